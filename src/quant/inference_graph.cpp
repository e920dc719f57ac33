// The inference engine (folding and quantisation: fold.cpp; the hpcnn-inference file: inference_file.cpp).
#include "quant/inference_graph.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "common/maths.hpp"
#include "core/cache_chunk.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"

namespace hpcnn::quant {

using model::LayerKind;
using model::Shape;

// ---- the engine ------------------------------------------------------------------

struct Engine::Plan {
  int64_t n = 0;
  std::vector<std::vector<float>> tensors;             // FP32, or u8/s8 in the first bytes (int8_tensor)
  std::vector<bool> int8_tensor;                       // written quantised by an int8 op for int8 readers
  std::vector<std::unique_ptr<kernels::InferOp>> ops;  // per op (conv / dense only)
};

namespace {
/// The cache rule's samples-in-L2 for this graph (core/cache_chunk.hpp): bytes
/// one sample's largest op reads and writes, FP32 tensors or one byte per
/// value where an int8 graph passes int8 (an upper bound there).
double graph_samples_in_l2(const Graph& graph, int threads) {
  int64_t per_sample = 1;
  const int64_t value_bytes = graph.int8 ? 1 : 4;
  for (const Op& op : graph.ops) per_sample = std::max(per_sample, (op.in.size() + op.out.size()) * value_bytes);
  return samples_in_l2(per_sample, threads > 0 ? threads : std::max(1, omp_get_max_threads()));
}
}  // namespace

Engine::Engine(const Graph& graph, int threads)
    : graph_(graph), threads_(threads), samples_in_l2_(graph_samples_in_l2(graph, threads)) {}
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

int64_t Engine::chunk_size(int64_t n) const { return cache_chunk(n, samples_in_l2_); }

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

}  // namespace hpcnn::quant
