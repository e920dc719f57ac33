// Folding, quantisation, the inference engine and the hpcnn-inference file.
#include "quant/inference_graph.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/maths.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;

namespace hpcnn::quant {

using model::LayerKind;
using model::Shape;

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kConv: return "conv";
    case OpKind::kDense: return "dense";
    case OpKind::kAffine: return "affine";
    case OpKind::kRelu: return "relu";
    case OpKind::kRelu6: return "relu6";
    case OpKind::kAdd: return "add";
    case OpKind::kGlobalAvgPool: return "gap";
    case OpKind::kMaxPool: return "maxpool";
    case OpKind::kPad: return "pad";
  }
  return "?";
}

namespace {
bool has_weights(OpKind k) { return k == OpKind::kConv || k == OpKind::kDense; }

OpKind parse_op_kind(const std::string& text) {
  for (OpKind k : {OpKind::kConv, OpKind::kDense, OpKind::kAffine, OpKind::kRelu, OpKind::kRelu6, OpKind::kAdd,
                   OpKind::kGlobalAvgPool, OpKind::kMaxPool, OpKind::kPad}) {
    if (text == op_kind_name(k)) return k;
  }
  HPCNN_THROW("unknown op kind '", text, "'");
}

const char* act_name(kernels::Activation a) {
  return a == kernels::Activation::kRelu ? "relu" : (a == kernels::Activation::kRelu6 ? "relu6" : "none");
}
kernels::Activation parse_act(const std::string& text) {
  if (text == "relu") return kernels::Activation::kRelu;
  if (text == "relu6") return kernels::Activation::kRelu6;
  HPCNN_CHECK(text == "none", "unknown activation '", text, "'");
  return kernels::Activation::kNone;
}
}  // namespace

int64_t Graph::weight_bytes() const {
  int64_t bytes = 0;
  for (const Op& op : ops) {
    if (int8 && has_weights(op.kind)) {
      bytes += static_cast<int64_t>(op.qweights.size() + 4 * (op.wscales.size() + op.bias.size()));
    } else {
      bytes += static_cast<int64_t>(4 * (op.weights.size() + op.bias.size()));
    }
  }
  return bytes;
}

// ---- fold ----------------------------------------------------------------------

Graph fold(const model::ModelSpec& spec, model::LossKind loss, std::span<const float> params) {
  Graph g;
  g.model_name = spec.name;
  g.model_text = spec.text;
  g.input = spec.input;
  g.loss = loss;
  const size_t layers = spec.layers.size();
  std::vector<int64_t> offset(layers + 1, 0);
  for (size_t i = 0; i < layers; ++i) offset[i + 1] = offset[i] + spec.layers[i].params();
  HPCNN_CHECK(static_cast<int64_t>(params.size()) == offset[layers], "fold: ", params.size(),
              " parameters for a model of ", offset[layers]);
  // Tensors an add reads: nothing may be folded across them.
  std::vector<bool> shared(layers + 1, false);
  for (const model::ResolvedLayer& l : spec.layers)
    if (l.spec.kind == LayerKind::kAdd) shared[static_cast<size_t>(l.add_source)] = true;
  std::vector<int> id(layers + 1, 0);         // model tensor k -> graph tensor
  std::vector<Shape> data_shape{spec.input};  // graph tensor -> the (C, H, W) of its NHWC data
  const auto new_tensor = [&](const Shape& s) {
    data_shape.push_back(s);
    return static_cast<int>(data_shape.size()) - 1;
  };
  const auto kind = [&](size_t i) { return i < layers ? spec.layers[i].spec.kind : LayerKind::kFlatten; };
  const auto label = [&](size_t i) { return model::layer_label(i, spec.layers[i]); };
  struct PendingPad {
    bool on = false;
    int64_t top = 0, bottom = 0, left = 0, right = 0;
    Shape in;
    std::string label;
  } pad;
  // Folds an activation right after layer j - 1 into `op` (when no add reads between).
  const auto fuse_activation = [&](Op& op, size_t& j) {
    if (j < layers && (kind(j) == LayerKind::kRelu || kind(j) == LayerKind::kRelu6) && !shared[j]) {
      op.act = kind(j) == LayerKind::kRelu ? kernels::Activation::kRelu : kernels::Activation::kRelu6;
      op.layers += " + " + label(j);
      ++j;
    }
  };
  for (size_t i = 0; i < layers; ++i) {
    const model::ResolvedLayer& l = spec.layers[i];
    const float* p = params.data() + offset[i];
    Op op;
    op.src = id[i];
    op.in = l.input;
    op.out = l.output;
    op.layers = label(i);
    size_t last = i;  // the last model layer this op covers
    switch (l.spec.kind) {
      case LayerKind::kZeroPad:
        op.pad_top = l.spec.pad[0];
        op.pad_bottom = l.spec.pad[1];
        op.pad_left = l.spec.pad[2];
        op.pad_right = l.spec.pad[3];
        if (kind(i + 1) == LayerKind::kConv && !shared[i + 1]) {  // the conv pads instead
          pad = {true, op.pad_top, op.pad_bottom, op.pad_left, op.pad_right, l.input, op.layers};
          id[i + 1] = id[i];
          continue;
        }
        op.kind = OpKind::kPad;
        break;
      case LayerKind::kConv: {
        op.kind = OpKind::kConv;
        op.kernel = l.spec.kernel;
        op.stride = l.spec.stride;
        op.groups = l.spec.groups;
        op.pad_top = l.pad_h.before;
        op.pad_bottom = l.pad_h.after;
        op.pad_left = l.pad_w.before;
        op.pad_right = l.pad_w.after;
        if (pad.on) {
          op.in = pad.in;
          op.pad_top += pad.top;
          op.pad_bottom += pad.bottom;
          op.pad_left += pad.left;
          op.pad_right += pad.right;
          op.layers = pad.label + " + " + op.layers;
          pad.on = false;
        }
        op.weights.assign(p, p + l.weights);
        op.bias.assign(static_cast<size_t>(l.output.c), 0.0f);
        if (l.spec.bias) op.bias.assign(p + l.weights, p + l.weights + l.bias);
        size_t j = i + 1;
        if (kind(j) == LayerKind::kBatchNorm && !shared[j]) {
          // y = gamma (conv + b - mean) / sqrt(var + eps) + beta: scale each
          // output channel's weights and bias.
          const model::ResolvedLayer& bn = spec.layers[j];
          const float* q = params.data() + offset[j];
          const int64_t c = bn.output.c, per = l.weights / c;
          for (int64_t oc = 0; oc < c; ++oc) {
            const double s = q[oc] / std::sqrt(static_cast<double>(q[3 * c + oc]) + bn.spec.epsilon);
            for (int64_t k = 0; k < per; ++k) op.weights[static_cast<size_t>(oc * per + k)] *= static_cast<float>(s);
            op.bias[static_cast<size_t>(oc)] =
                static_cast<float>((op.bias[static_cast<size_t>(oc)] - q[2 * c + oc]) * s + q[c + oc]);
          }
          op.layers += " + " + label(j);
          ++j;
        }
        fuse_activation(op, j);
        last = j - 1;
        op.out = spec.layers[last].output;
        break;
      }
      case LayerKind::kDense: {
        op.kind = OpKind::kDense;
        const Shape& ds = data_shape[static_cast<size_t>(op.src)];
        HPCNN_CHECK(ds.size() == l.input.size(), "fold: dense input of ", ds.size(), " values for ", l.input.size());
        op.weights.assign(p, p + l.weights);
        if (ds.h * ds.w > 1) {
          // A flattened map: the model's weights read it in (C, H, W) order, the engine stores it (H, W, C).
          const int64_t in = l.input.size(), hw = ds.h * ds.w;
          for (int64_t o = 0; o < l.output.c; ++o)
            for (int64_t c = 0; c < ds.c; ++c)
              for (int64_t s = 0; s < hw; ++s)
                op.weights[static_cast<size_t>(o * in + s * ds.c + c)] = p[o * in + c * hw + s];
        }
        op.bias.assign(p + l.weights, p + l.weights + l.bias);
        size_t j = i + 1;
        fuse_activation(op, j);
        last = j - 1;
        op.out = spec.layers[last].output;
        break;
      }
      case LayerKind::kBatchNorm: {  // not after a conv: a per-channel affine map
        op.kind = OpKind::kAffine;
        const int64_t c = l.output.c;
        for (int64_t k = 0; k < c; ++k) {
          const double s = p[k] / std::sqrt(static_cast<double>(p[3 * c + k]) + l.spec.epsilon);
          op.weights.push_back(static_cast<float>(s));
          op.bias.push_back(static_cast<float>(p[c + k] - p[2 * c + k] * s));
        }
        break;
      }
      case LayerKind::kRelu: op.kind = OpKind::kRelu; break;
      case LayerKind::kRelu6: op.kind = OpKind::kRelu6; break;
      case LayerKind::kAdd:
        op.kind = OpKind::kAdd;
        op.src2 = id[static_cast<size_t>(l.add_source)];
        break;
      case LayerKind::kGlobalAvgPool: op.kind = OpKind::kGlobalAvgPool; break;
      case LayerKind::kMaxPool:
        op.kind = OpKind::kMaxPool;
        op.kernel = l.spec.kernel;
        op.stride = l.spec.stride;
        break;
      case LayerKind::kDropout:  // identity at inference
      case LayerKind::kFlatten:  // the data stays where it is (its NHWC order is the dense op's business)
        id[i + 1] = id[i];
        continue;
    }
    op.dst = new_tensor(op.out);
    for (size_t k = i + 1; k <= last + 1; ++k) id[k] = op.dst;
    g.ops.push_back(std::move(op));
    i = last;
  }
  g.output = id[layers];
  g.num_tensors = static_cast<int>(data_shape.size());
  return g;
}

// ---- quantize ------------------------------------------------------------------

void quantize(Graph& g, const Calibration& cal) {
  HPCNN_CHECK(!g.int8, "quantize: the graph is int8 already");
  HPCNN_CHECK(cal.min.size() == g.ops.size() && cal.max_abs.size() == g.ops.size() && cal.samples > 0,
              "quantize: no calibration for this graph");
  for (size_t k = 0; k < g.ops.size(); ++k) {
    Op& op = g.ops[k];
    if (!has_weights(op.kind)) continue;
    // The input: u8 when it was never negative (after ReLU, or pixels), s8 otherwise.
    op.quant.is_unsigned = cal.min[k] >= 0.0f;
    const float range = cal.max_abs[k] > 0 ? cal.max_abs[k] : 1.0f;
    op.quant.scale = range / (op.quant.is_unsigned ? 255.0f : 127.0f);
    // The weights: symmetric, one scale per output channel.
    const int64_t oc = op.kind == OpKind::kConv ? op.out.c : op.out.size();
    const int64_t per = static_cast<int64_t>(op.weights.size()) / oc;
    op.qweights.resize(op.weights.size());
    op.wscales.assign(static_cast<size_t>(oc), 1.0f);
    for (int64_t c = 0; c < oc; ++c) {
      float m = 0;
      for (int64_t i = 0; i < per; ++i) m = std::max(m, std::abs(op.weights[static_cast<size_t>(c * per + i)]));
      const float s = m > 0 ? m / 127.0f : 1.0f;
      op.wscales[static_cast<size_t>(c)] = s;
      for (int64_t i = 0; i < per; ++i) {
        const auto at = static_cast<size_t>(c * per + i);
        op.qweights[at] = static_cast<int8_t>(std::lround(std::clamp(op.weights[at] / s, -127.0f, 127.0f)));
      }
    }
    op.weights.clear();
    op.weights.shrink_to_fit();
  }
  g.int8 = true;
}

// ---- the engine ------------------------------------------------------------------

struct Engine::Plan {
  int64_t n = 0;
  std::vector<std::vector<float>> tensors;             // FP32, or u8/s8 in the first bytes (int8_tensor)
  std::vector<bool> int8_tensor;                       // written quantised by an int8 op for int8 readers
  std::vector<std::unique_ptr<kernels::InferOp>> ops;  // per op (conv / dense only)
};

Engine::Engine(const Graph& graph, int threads) : graph_(graph), threads_(threads) {}
Engine::~Engine() = default;

Engine::Plan& Engine::plan_for(int64_t n) {
  for (auto& p : plans_)
    if (p->n == n) return *(last_ = p.get());
  auto plan = std::make_unique<Plan>();
  plan->n = n;
  plan->tensors.resize(static_cast<size_t>(graph_.num_tensors));
  plan->tensors[0].resize(static_cast<size_t>(n * graph_.input.size()));
  plan->ops.resize(graph_.ops.size());
  // An int8 op hands its output to its readers quantised when they all are
  // int8 ops (with the same input scale: they read the same tensor, so
  // calibration gave them the same one); otherwise in FP32.
  std::vector<std::vector<size_t>> readers(static_cast<size_t>(graph_.num_tensors));
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    readers[static_cast<size_t>(graph_.ops[k].src)].push_back(k);
    if (graph_.ops[k].src2 >= 0) readers[static_cast<size_t>(graph_.ops[k].src2)].push_back(k);
  }
  plan->int8_tensor.assign(static_cast<size_t>(graph_.num_tensors), false);
  std::vector<kernels::Int8Tensor> dst_int8(graph_.ops.size());
  for (size_t k = 0; k < graph_.ops.size() && graph_.int8 && observe_ == nullptr; ++k) {
    const Op& op = graph_.ops[k];
    const auto& r = readers[static_cast<size_t>(op.dst)];
    if (!has_weights(op.kind) || op.dst == graph_.output || r.empty()) continue;
    bool all = true;
    for (size_t j : r) {
      const Op& reader = graph_.ops[j];
      all = all && has_weights(reader.kind) && reader.src == op.dst &&
            reader.quant.scale == graph_.ops[r[0]].quant.scale &&
            reader.quant.is_unsigned == graph_.ops[r[0]].quant.is_unsigned;
    }
    if (!all) continue;
    dst_int8[k] = {true, graph_.ops[r[0]].quant};
    plan->int8_tensor[static_cast<size_t>(op.dst)] = true;
  }
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    const Op& op = graph_.ops[k];
    const bool src_int8 = plan->int8_tensor[static_cast<size_t>(op.src)];
    plan->tensors[static_cast<size_t>(op.dst)].resize(static_cast<size_t>(n * op.out.size()));
    const kernels::InferWeights w{op.weights.empty() ? nullptr : op.weights.data(),
                                  op.qweights.empty() ? nullptr : op.qweights.data(),
                                  op.wscales.empty() ? nullptr : op.wscales.data(), op.bias.data()};
    if (op.kind == OpKind::kConv) {
      kernels::InferConvSpec s{n,         op.in.c,   op.in.h,     op.in.w,     op.out.c,      op.kernel,    op.kernel,
                               op.stride, op.groups, op.pad_top,  op.pad_left, op.pad_bottom, op.pad_right, op.out.h,
                               op.out.w,  op.act,    graph_.int8, op.quant,    src_int8,      dst_int8[k]};
      plan->ops[k] = kernels::make_infer_conv(s, w, threads_);
    } else if (op.kind == OpKind::kDense) {
      kernels::InferDenseSpec s{n, op.in.size(), op.out.size(), op.act, graph_.int8, op.quant, src_int8, dst_int8[k]};
      plan->ops[k] = kernels::make_infer_dense(s, w, threads_);
    }
  }
  plans_.push_back(std::move(plan));
  return *(last_ = plans_.back().get());
}

namespace {
// Host ops on NHWC tensors of n samples.
void affine(const float* src, float* dst, int64_t rows, int64_t c, const float* scale, const float* shift) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < c; ++k) dst[r * c + k] = src[r * c + k] * scale[k] + shift[k];
}

void global_avg_pool(const float* src, float* dst, int64_t n, int64_t hw, int64_t c) {
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < n; ++a) {
    std::vector<double> sum(static_cast<size_t>(c), 0.0);
    for (int64_t s = 0; s < hw; ++s)
      for (int64_t k = 0; k < c; ++k) sum[static_cast<size_t>(k)] += src[(a * hw + s) * c + k];
    for (int64_t k = 0; k < c; ++k) dst[a * c + k] = static_cast<float>(sum[static_cast<size_t>(k)] / double(hw));
  }
}

void max_pool(const Op& op, const float* src, float* dst, int64_t n) {
  const int64_t c = op.in.c;
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < n; ++a)
    for (int64_t oh = 0; oh < op.out.h; ++oh)
      for (int64_t ow = 0; ow < op.out.w; ++ow)
        for (int64_t k = 0; k < c; ++k) {
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t y = oh * op.stride; y < oh * op.stride + op.kernel; ++y)
            for (int64_t x = ow * op.stride; x < ow * op.stride + op.kernel; ++x)
              best = std::max(best, src[((a * op.in.h + y) * op.in.w + x) * c + k]);
          dst[((a * op.out.h + oh) * op.out.w + ow) * c + k] = best;
        }
}

void zero_pad(const Op& op, const float* src, float* dst, int64_t n) {
  const int64_t c = op.in.c;
  std::fill(dst, dst + n * op.out.size(), 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < n; ++a)
    for (int64_t y = 0; y < op.in.h; ++y)
      std::copy_n(src + (a * op.in.h + y) * op.in.w * c, op.in.w * c,
                  dst + ((a * op.out.h + y + op.pad_top) * op.out.w + op.pad_left) * c);
}
}  // namespace

int64_t Engine::chunk_size(int64_t n) const {
  if (const char* env = std::getenv("HPCNN_INFER_CHUNK")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    HPCNN_CHECK(end != env && *end == '\0' && v >= 0, "HPCNN_INFER_CHUNK='", env,
                "' (expected a sample count, 0: whole batch)");
    return v == 0 ? n : std::min<int64_t>(n, v);
  }
  // Bytes one sample's largest op reads and writes: FP32 tensors, or one
  // byte per value where an int8 graph passes int8 (an upper bound there).
  int64_t per_sample = 1;
  const int64_t value_bytes = graph_.int8 ? 1 : 4;
  for (const Op& op : graph_.ops) per_sample = std::max(per_sample, (op.in.size() + op.out.size()) * value_bytes);
  long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 <= 0) l2 = 1 << 20;  // not reported (some VMs): 1 MiB, a common L2 per core
  const int64_t threads = threads_ > 0 ? threads_ : std::max(1, omp_get_max_threads());
  const double fit = static_cast<double>(l2) * static_cast<double>(threads) / static_cast<double>(per_sample);
  return std::clamp<int64_t>(std::llround(fit), 1, n);
}

kernels::LossResult Engine::evaluate(const data::Batch& batch, std::vector<float>* outputs) {
  const int64_t n = batch.count;
  HPCNN_CHECK(n > 0, "empty batch");
  HPCNN_CHECK(static_cast<int64_t>(batch.samples.size()) == n * graph_.input.size(), "batch has ", batch.samples.size(),
              " values, the model's input ", graph_.input.str(), " x ", n, " needs ", n * graph_.input.size());
  if (observe_ != nullptr && observe_->min.size() != graph_.ops.size()) {
    observe_->min.assign(graph_.ops.size(), std::numeric_limits<float>::infinity());
    observe_->max_abs.assign(graph_.ops.size(), 0.0f);
  }
  const int64_t chunk = chunk_size(n);
  std::vector<float> logits;
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t m = std::min(chunk, n - first);
    const std::vector<float>& out = run_chunk(batch.samples.data() + first * graph_.input.size(), m);
    if (first == 0) logits.reserve(static_cast<size_t>(n) * (out.size() / static_cast<size_t>(m)));
    logits.insert(logits.end(), out.begin(), out.end());
  }
  if (observe_ != nullptr) observe_->samples += n;
  return loss_of(batch, logits, outputs);
}

const std::vector<float>& Engine::run_chunk(const float* samples, int64_t n) {
  Plan& p = plan_for(n);
  // NCHW samples -> NHWC.
  {
    const int64_t c = graph_.input.c, hw = graph_.input.h * graph_.input.w;
    float* x = p.tensors[0].data();
    for (int64_t a = 0; a < n; ++a)
      for (int64_t k = 0; k < c; ++k)
        for (int64_t s = 0; s < hw; ++s) x[(a * hw + s) * c + k] = samples[(a * c + k) * hw + s];
  }
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    const Op& op = graph_.ops[k];
    const float* src = p.tensors[static_cast<size_t>(op.src)].data();
    float* dst = p.tensors[static_cast<size_t>(op.dst)].data();
    const int64_t count = n * op.out.size();
    if (observe_ != nullptr && has_weights(op.kind)) {
      float lo = observe_->min[k], hi = observe_->max_abs[k];
      for (int64_t i = 0; i < n * op.in.size(); ++i) {
        lo = std::min(lo, src[i]);
        hi = std::max(hi, std::abs(src[i]));
      }
      observe_->min[k] = lo;
      observe_->max_abs[k] = hi;
    }
    switch (op.kind) {
      case OpKind::kConv:
      case OpKind::kDense: p.ops[k]->run(src, dst); break;
      case OpKind::kAffine:
        affine(src, dst, n * op.out.h * op.out.w, op.out.c, op.weights.data(), op.bias.data());
        break;
      case OpKind::kRelu:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count; ++i) dst[i] = kernels::maths::relu(src[i]);
        break;
      case OpKind::kRelu6:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count; ++i) dst[i] = kernels::maths::relu6(src[i]);
        break;
      case OpKind::kAdd: {
        const float* b = p.tensors[static_cast<size_t>(op.src2)].data();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count; ++i) dst[i] = src[i] + b[i];
        break;
      }
      case OpKind::kGlobalAvgPool: global_avg_pool(src, dst, n, op.in.h * op.in.w, op.in.c); break;
      case OpKind::kMaxPool: max_pool(op, src, dst, n); break;
      case OpKind::kPad: zero_pad(op, src, dst, n); break;
    }
  }
  return p.tensors[static_cast<size_t>(graph_.output)];
}

kernels::LossResult Engine::loss_of(const data::Batch& batch, std::vector<float>& logits,
                                    std::vector<float>* outputs) const {
  // The loss on the host, as the backends compute it.
  const int64_t n = batch.count;
  const int64_t k = static_cast<int64_t>(logits.size()) / n;
  // The backends' own per-row loss (kernels/common/maths.hpp); the gradient it
  // also writes goes to a scratch row.
  kernels::LossResult r;
  std::vector<float> unused(static_cast<size_t>(k));
  for (int64_t a = 0; a < n; ++a) {
    const float* z = logits.data() + a * k;
    if (graph_.loss == model::LossKind::kSoftmaxCrossEntropy) {
      HPCNN_CHECK(static_cast<int64_t>(batch.labels.size()) == n, "classification needs labels");
      const int32_t label = batch.labels[static_cast<size_t>(a)];
      HPCNN_CHECK(label >= 0 && label < k, "label ", label, " out of range for a model with ", k, " outputs");
      kernels::maths::softmax_cross_entropy_row(z, k, label, 1.0f, unused.data(), &r.loss_sum, &r.correct);
    } else {
      HPCNN_CHECK(static_cast<int64_t>(batch.targets.size()) == n * k, "regression needs ", k, " target(s) per sample");
      for (int64_t j = 0; j < k; ++j)
        r.loss_sum += kernels::maths::squared_error_one(z[j], batch.targets[static_cast<size_t>(a * k + j)], k, 1.0f,
                                                        unused.data());
    }
  }
  if (outputs != nullptr) *outputs = std::move(logits);
  return r;
}

std::vector<std::string> Engine::implementations() const {
  std::vector<std::string> out;
  if (last_ == nullptr) return out;
  for (size_t k = 0; k < graph_.ops.size(); ++k)
    if (last_->ops[k]) out.push_back(cat(graph_.ops[k].layers, ": ", last_->ops[k]->implementation()));
  return out;
}

// ---- the file ----------------------------------------------------------------------

namespace {
std::string shape_text(const Shape& s) { return cat(s.c, "x", s.h, "x", s.w); }
std::string float_text(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}
float float_attribute(const h5::File& f, const std::string& name, const std::string& object) {
  const std::string text = f.string_attribute(name, object);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  HPCNN_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(v), f.path().string(), ": ", object,
              " attribute '", name, "' is not a finite number");
  return static_cast<float>(v);
}
template <typename T>
std::vector<T> read_vector(const h5::File& f, const std::string& name, h5::ElementType type, size_t expect) {
  const h5::Dataset d = f.open_dataset(name);
  hsize_t count = 1;
  for (hsize_t v : d.dims()) count *= v;
  HPCNN_CHECK(count == expect, f.path().string(), ": /", name, " holds ", count, " values, expected ", expect);
  HPCNN_CHECK(d.storage_bytes() >= count * h5::element_size(d.stored_type()), f.path().string(), ": /", name,
              " stores fewer bytes than its shape needs");
  std::vector<T> out(expect);
  if (expect > 0) d.read_all(type, out.data());
  return out;
}
}  // namespace

void save_graph(const fs::path& path, const Graph& g) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp." + std::to_string(getpid());
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  try {
    h5::File f = h5::File::create(tmp);
    f.set_attribute("format", std::string("hpcnn-inference"));
    f.set_attribute("version", int64_t{1});
    f.set_attribute("precision", std::string(g.int8 ? "int8" : "fp32"));
    f.set_attribute("model_name", g.model_name);
    f.set_attribute("model_text", g.model_text);
    f.set_attribute("input_shape", shape_text(g.input));
    f.set_attribute("loss", std::string(model::loss_name(g.loss)));
    f.set_attribute("num_tensors", static_cast<int64_t>(g.num_tensors));
    f.set_attribute("output", static_cast<int64_t>(g.output));
    f.set_attribute("num_ops", static_cast<int64_t>(g.ops.size()));
    f.set_attribute("weight_bytes", g.weight_bytes());
    f.set_attribute("dataset", g.dataset_name);
    f.set_attribute("sample_dtype", g.sample_dtype);
    f.set_attribute("class_names", nlohmann::json(g.class_names).dump());
    f.set_attribute("source", g.source);
    f.set_attribute("calibration", g.calibration);
    f.create_group("ops");
    for (size_t k = 0; k < g.ops.size(); ++k) {
      const Op& op = g.ops[k];
      char name[32];
      std::snprintf(name, sizeof name, "ops/%03zu", k);
      f.create_group(name);
      f.set_attribute("kind", std::string(op_kind_name(op.kind)), name);
      f.set_attribute("layers", op.layers, name);
      for (const auto& [key, v] : {std::pair<const char*, int64_t>{"src", op.src},
                                   {"src2", op.src2},
                                   {"dst", op.dst},
                                   {"kernel", op.kernel},
                                   {"stride", op.stride},
                                   {"groups", op.groups},
                                   {"pad_top", op.pad_top},
                                   {"pad_bottom", op.pad_bottom},
                                   {"pad_left", op.pad_left},
                                   {"pad_right", op.pad_right}})
        f.set_attribute(key, v, name);
      f.set_attribute("in", shape_text(op.in), name);
      f.set_attribute("out", shape_text(op.out), name);
      f.set_attribute("activation", std::string(act_name(op.act)), name);
      const std::string base = name;
      auto vec_dims = [](size_t n) { return std::vector<hsize_t>{static_cast<hsize_t>(n)}; };
      std::vector<hsize_t> wdims = vec_dims(op.weights.size() + op.qweights.size());
      if (op.kind == OpKind::kConv) {
        wdims = {static_cast<hsize_t>(op.out.c), static_cast<hsize_t>(op.in.c / op.groups),
                 static_cast<hsize_t>(op.kernel), static_cast<hsize_t>(op.kernel)};
      } else if (op.kind == OpKind::kDense) {
        wdims = {static_cast<hsize_t>(op.out.size()), static_cast<hsize_t>(op.in.size())};
      }
      if (!op.qweights.empty()) {
        f.write_small(base + "/weights", h5::ElementType::kInt8, wdims, op.qweights.data());
        f.write_small(base + "/weight_scales", h5::ElementType::kFloat32, vec_dims(op.wscales.size()),
                      op.wscales.data());
        f.set_attribute("input_scale", float_text(op.quant.scale), name);
        f.set_attribute("input_unsigned", int64_t{op.quant.is_unsigned ? 1 : 0}, name);
      } else if (!op.weights.empty()) {
        f.write_small(base + "/weights", h5::ElementType::kFloat32, wdims, op.weights.data());
      }
      if (!op.bias.empty())
        f.write_small(base + "/bias", h5::ElementType::kFloat32, vec_dims(op.bias.size()), op.bias.data());
    }
    f.flush();
    f.close();
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  rename_into_place(tmp, path);
}

bool is_inference_file(const fs::path& path) {
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  try {
    const h5::File f = h5::File::open_read(path);
    return f.has_attribute("format") && f.string_attribute("format") == "hpcnn-inference";
  } catch (const std::exception&) {
    return false;
  }
}

Graph load_graph(const fs::path& path) {
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  const h5::File f = h5::File::open_read(path);
  HPCNN_CHECK(f.has_attribute("format") && f.string_attribute("format") == "hpcnn-inference", path.string(),
              ": not an hpcnn inference file (hpcnn quantize writes them)");
  Graph g;
  g.int8 = f.string_attribute("precision") == "int8";
  g.model_name = f.string_attribute("model_name");
  g.model_text = f.string_attribute("model_text");
  g.input = model::parse_shape(f.string_attribute("input_shape"));
  g.loss = f.string_attribute("loss") == model::loss_name(model::LossKind::kMeanSquaredError)
               ? model::LossKind::kMeanSquaredError
               : model::LossKind::kSoftmaxCrossEntropy;
  g.num_tensors = static_cast<int>(f.int_attribute("num_tensors"));
  g.output = static_cast<int>(f.int_attribute("output"));
  const int64_t num_ops = f.int_attribute("num_ops");
  HPCNN_CHECK(g.num_tensors >= 1 && g.num_tensors <= (1 << 20) && num_ops >= 1 && num_ops < g.num_tensors + 1 &&
                  g.output >= 0 && g.output < g.num_tensors,
              path.string(), ": inconsistent graph size (", num_ops, " ops, ", g.num_tensors, " tensors)");
  g.dataset_name = f.string_attribute("dataset");
  g.sample_dtype = f.string_attribute("sample_dtype");
  const auto names = nlohmann::json::parse(f.string_attribute("class_names"), nullptr, false);
  HPCNN_CHECK(names.is_array(), path.string(), ": attribute class_names is not a JSON array");
  for (const auto& name : names) g.class_names.push_back(name.is_string() ? name.get<std::string>() : "?");
  g.source = f.string_attribute("source");
  g.calibration = f.string_attribute("calibration");
  std::vector<Shape> shape_of(static_cast<size_t>(g.num_tensors));
  std::vector<bool> written(static_cast<size_t>(g.num_tensors), false);
  shape_of[0] = g.input;
  written[0] = true;
  for (int64_t k = 0; k < num_ops; ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "ops/%03lld", static_cast<long long>(k));
    const std::string base = name;
    Op op;
    op.kind = parse_op_kind(f.string_attribute("kind", base));
    op.layers = f.string_attribute("layers", base);
    op.src = static_cast<int>(f.int_attribute("src", base));
    op.src2 = static_cast<int>(f.int_attribute("src2", base));
    op.dst = static_cast<int>(f.int_attribute("dst", base));
    op.kernel = f.int_attribute("kernel", base);
    op.stride = f.int_attribute("stride", base);
    op.groups = f.int_attribute("groups", base);
    op.pad_top = f.int_attribute("pad_top", base);
    op.pad_bottom = f.int_attribute("pad_bottom", base);
    op.pad_left = f.int_attribute("pad_left", base);
    op.pad_right = f.int_attribute("pad_right", base);
    op.in = model::parse_shape(f.string_attribute("in", base));
    op.out = model::parse_shape(f.string_attribute("out", base));
    op.act = parse_act(f.string_attribute("activation", base));
    // Every tensor is written before it is read, once, with the shape its readers expect.
    const auto valid = [&](int t) { return t >= 0 && t < g.num_tensors && written[static_cast<size_t>(t)]; };
    HPCNN_CHECK(valid(op.src) && (op.src2 < 0 || valid(op.src2)) && op.dst > 0 && op.dst < g.num_tensors &&
                    !written[static_cast<size_t>(op.dst)] &&
                    shape_of[static_cast<size_t>(op.src)].size() == op.in.size(),
                path.string(), ": op ", k, " (", op.layers, ") reads or writes the wrong tensors");
    HPCNN_CHECK(op.kernel >= 1 && op.stride >= 1 && op.groups >= 1 && op.in.c % op.groups == 0, path.string(), ": op ",
                k, " has a bad geometry");
    written[static_cast<size_t>(op.dst)] = true;
    shape_of[static_cast<size_t>(op.dst)] = op.out;
    const int64_t oc = op.kind == OpKind::kConv ? op.out.c : op.out.size();
    if (has_weights(op.kind)) {
      const auto count =
          static_cast<size_t>(op.kind == OpKind::kConv ? op.out.c * (op.in.c / op.groups) * op.kernel * op.kernel
                                                       : op.out.size() * op.in.size());
      if (g.int8) {
        op.qweights = read_vector<int8_t>(f, base + "/weights", h5::ElementType::kInt8, count);
        op.wscales = read_vector<float>(f, base + "/weight_scales", h5::ElementType::kFloat32, static_cast<size_t>(oc));
        op.quant.scale = float_attribute(f, "input_scale", base);
        op.quant.is_unsigned = f.int_attribute("input_unsigned", base) != 0;
      } else {
        op.weights = read_vector<float>(f, base + "/weights", h5::ElementType::kFloat32, count);
      }
      op.bias = read_vector<float>(f, base + "/bias", h5::ElementType::kFloat32, static_cast<size_t>(oc));
    } else if (op.kind == OpKind::kAffine) {
      op.weights = read_vector<float>(f, base + "/weights", h5::ElementType::kFloat32, static_cast<size_t>(op.out.c));
      op.bias = read_vector<float>(f, base + "/bias", h5::ElementType::kFloat32, static_cast<size_t>(op.out.c));
    }
    g.ops.push_back(std::move(op));
  }
  HPCNN_CHECK(written[static_cast<size_t>(g.output)], path.string(), ": no op writes the output tensor");
  return g;
}

}  // namespace hpcnn::quant
