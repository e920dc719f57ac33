// Fuzzes the hpcnn-inference loader (quant/inference_file.cpp, via the HDF5
// wrappers of data/h5.cpp): the input is written as model.h5 and loaded as
// `hpcnn infer` would. What the loader accepts must be safe for the engine
// (quant/inference_graph.cpp), which indexes tensors by the ops' numbers and
// sizes its loops by their shapes: every accepted graph is checked here
// against the engine's assumptions, and a violation aborts (a finding).
// Seeds: int8 and folded FP32 outputs of `hpcnn quantize` on tiny models
// (conv, add, maxpool, pad, affine, relu6, dense; depthwise, gap).
#include <vector>

#include "fuzz_util.hpp"
#include "quant/inference_graph.hpp"

namespace {
using hpcnn::quant::Graph;
using hpcnn::quant::Op;
using hpcnn::quant::OpKind;

/// The engine's assumptions about an accepted graph; false where it would
/// read or write outside a tensor or a weight buffer.
bool engine_safe(const Graph& g) {
  if (g.num_tensors < 1 || g.output < 0 || g.output >= g.num_tensors) return false;
  std::vector<int64_t> size(static_cast<size_t>(g.num_tensors), -1);  // per sample; -1: not written yet
  size[0] = g.input.size();
  const auto readable = [&](int t, const hpcnn::model::Shape& as) {
    return t >= 0 && t < g.num_tensors && size[static_cast<size_t>(t)] == as.size();
  };
  for (const Op& op : g.ops) {
    if (!readable(op.src, op.in) || (op.kind == OpKind::kAdd && !readable(op.src2, op.in))) return false;
    if (op.dst <= 0 || op.dst >= g.num_tensors || size[static_cast<size_t>(op.dst)] != -1) return false;
    size[static_cast<size_t>(op.dst)] = op.out.size();
    const auto n = [](int64_t v) { return static_cast<size_t>(v); };
    switch (op.kind) {
      case OpKind::kConv:
      case OpKind::kDense: {
        const int64_t oc = op.kind == OpKind::kConv ? op.out.c : op.out.size();
        const int64_t count =
            op.kind == OpKind::kConv ? oc * (op.in.c / op.groups) * op.kernel * op.kernel : oc * op.in.size();
        if (op.groups < 1 || op.in.c % op.groups != 0 || op.bias.size() != n(oc)) return false;
        if (g.int8 ? (op.qweights.size() != n(count) || op.wscales.size() != n(oc) || !(op.quant.scale > 0))
                   : op.weights.size() != n(count))
          return false;
        if (op.kind == OpKind::kConv &&
            (op.out.h != (op.in.h + op.pad_top + op.pad_bottom - op.kernel) / op.stride + 1 ||
             op.out.w != (op.in.w + op.pad_left + op.pad_right - op.kernel) / op.stride + 1))
          return false;
        break;
      }
      case OpKind::kAffine:
        if (op.weights.size() != n(op.out.c) || op.bias.size() != n(op.out.c) || op.out.size() != op.in.size())
          return false;
        break;
      case OpKind::kMaxPool:  // the window stays inside the input
        if (op.out.c != op.in.c || (op.out.h - 1) * op.stride + op.kernel > op.in.h ||
            (op.out.w - 1) * op.stride + op.kernel > op.in.w)
          return false;
        break;
      case OpKind::kPad:  // the input lands inside the output
        if (op.out.c != op.in.c || op.pad_top < 0 || op.pad_left < 0 || op.in.h + op.pad_top > op.out.h ||
            op.in.w + op.pad_left > op.out.w)
          return false;
        break;
      case OpKind::kGlobalAvgPool:
        if (op.out.size() != op.in.c) return false;
        break;
      case OpKind::kRelu:
      case OpKind::kRelu6:
      case OpKind::kAdd:
        if (op.out.size() != op.in.size()) return false;
        break;
    }
  }
  return size[static_cast<size_t>(g.output)] > 0;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  const auto path = fuzz::scratch_dir() / "model.h5";
  fuzz::write_input(path, data, size);
  if (!fuzz::libhdf5_survives(path, {"ops", "ops/000", "ops/000/weights", "ops/000/weight_scales", "ops/000/bias",
                                     "ops/001", "ops/002", "ops/003", "ops/004", "ops/005", "ops/006", "ops/007"})) {
    return 0;  // a crash inside libhdf5 alone: not hpcnn's to find
  }
  fuzz::expect_clean([&] {
    const quant::Graph g = quant::load_graph(path);
    if (!engine_safe(g)) std::abort();
  });
  fuzz::require_no_open_hdf5();
  return 0;
}
