// The inference engine (folding and quantisation: fold.cpp; the hpcnn-inference file: inference_file.cpp).
#include "quant/inference_graph.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>

#include "common/maths.hpp"
#include "core/cache_chunk.hpp"
#include "core/chunk_slots.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "quant/band_schedule.hpp"

namespace hpcnn::quant {

using model::LayerKind;
using model::Shape;

// ---- the engine ------------------------------------------------------------------

struct Engine::Plan {
  int64_t n = 0;
  std::vector<std::vector<float>> buffers;             // FP32, or u8/s8 in the first bytes (int8_tensor)
  std::vector<int> buffer;                             // per tensor: the buffer holding it
  std::vector<bool> int8_tensor;                       // written quantised by an int8 op for int8 readers
  std::vector<std::unique_ptr<kernels::InferOp>> ops;  // per op (conv / dense only)
  std::vector<bool> sum;                               // per op: a conv that also does the add after it
  std::vector<bool> done;                              // per op: an add the conv before it did
  std::vector<bool> int8_out;                          // per op: writes u8/s8
  std::vector<kernels::InferConvSpec> conv_spec;       // per op: what made ops[k] (conv)
  std::vector<kernels::InferDenseSpec> dense_spec;     // per op: what made ops[k] (dense)
  std::vector<kernels::InferWeights> weights;          // per op: its weights as given to ops[k]
  std::unique_ptr<BandSchedule> bands;                 // batch 1 on several threads (run_bands), made on first use
  float* data(int tensor) { return buffers[static_cast<size_t>(buffer[static_cast<size_t>(tensor)])].data(); }
};

namespace {
/// Residual adds the conv before them does as a sum post-op (MobileNetV2's
/// projecting 1x1 conv): per add op, the index of that conv, or -1. The conv
/// writes into the other operand's buffer, which holds the skip tensor, and
/// that buffer becomes the add's output, so the add costs no host loop and
/// no pass over memory. Allowed when the conv's output is read by the add
/// alone, and the skip tensor by no op from the conv on but the add (the
/// conv overwrites it in place), and the skip is not the model's input.
std::vector<int> fused_adds(const Graph& g) {
  const size_t ops = g.ops.size();
  std::vector<int> producer(static_cast<size_t>(g.num_tensors), -1);
  std::vector<std::vector<size_t>> readers(static_cast<size_t>(g.num_tensors));
  for (size_t k = 0; k < ops; ++k) {
    producer[static_cast<size_t>(g.ops[k].dst)] = static_cast<int>(k);
    readers[static_cast<size_t>(g.ops[k].src)].push_back(k);
    if (g.ops[k].src2 >= 0) readers[static_cast<size_t>(g.ops[k].src2)].push_back(k);
  }
  std::vector<int> fused(ops, -1);
  for (size_t k = 0; k < ops; ++k) {
    const Op& add = g.ops[k];
    if (add.kind != OpKind::kAdd || add.src == add.src2 || add.dst == g.output) continue;
    for (const auto& [a, b] : {std::pair{add.src, add.src2}, std::pair{add.src2, add.src}}) {
      const int j = producer[static_cast<size_t>(a)];
      if (j < 0 || g.ops[static_cast<size_t>(j)].kind != OpKind::kConv || b == 0 ||
          producer[static_cast<size_t>(b)] >= j || readers[static_cast<size_t>(a)].size() != 1)
        continue;
      bool free = true;  // nothing from the conv on reads the skip, but the add
      for (size_t r : readers[static_cast<size_t>(b)]) free = free && (r == k || static_cast<int>(r) < j);
      if (!free) continue;
      fused[k] = j;
      break;
    }
  }
  return fused;
}
}  // namespace

namespace {
/// The cache rule's samples a chunk for this graph (core/cache_chunk.hpp): the
/// larger of the samples whose largest op's input and output fit the threads'
/// L2 and samples_for_weights of the largest weight matrix; FP32 tensors and
/// weights, or one byte per value where an int8 graph passes int8 (an upper
/// bound there).
double graph_samples_in_l2(const Graph& graph, int threads) {
  int64_t per_sample = 1;
  const int64_t value_bytes = graph.int8 ? 1 : 4;
  for (const Op& op : graph.ops) per_sample = std::max(per_sample, (op.in.size() + op.out.size()) * value_bytes);
  int64_t weights = 0;  // the largest weight matrix
  for (const Op& op : graph.ops)
    if (has_weights(op.kind))
      weights = std::max(weights, op.kind == OpKind::kDense ? op.in.size() * op.out.size()
                                                            : op.out.c * (op.in.c / op.groups) * op.kernel * op.kernel);
  const int t = threads > 0 ? threads : std::max(1, omp_get_max_threads());
  return std::max(samples_in_l2(per_sample, t), samples_for_weights(weights * value_bytes, per_sample, t));
}
}  // namespace

Engine::Engine(const Graph& graph, int threads)
    : graph_(graph),
      threads_(threads),
      samples_in_l2_(graph_samples_in_l2(graph, threads)),
      samples_one_(graph_samples_in_l2(graph, 1)),
      fuse_adds_(true) {
  if (const char* env = std::getenv("HPCNN_INFER_FUSE")) {
    const std::string v = env;
    HPCNN_CHECK(v == "0" || v == "1", "HPCNN_INFER_FUSE='", v, "' (expected 0 or 1)");
    fuse_adds_ = v == "1";
  }
}
Engine::~Engine() = default;

Engine::Plan& Engine::plan_for(int64_t n) {
  for (auto& p : plans_)
    if (p->n == n) return *(last_ = p.get());
  auto plan = std::make_unique<Plan>();
  plan->n = n;
  plan->ops.resize(graph_.ops.size());
  plan->sum.assign(graph_.ops.size(), false);
  plan->done.assign(graph_.ops.size(), false);
  // One buffer per tensor, but a fused add's output and its conv's share the skip tensor's.
  plan->buffer.resize(static_cast<size_t>(graph_.num_tensors));
  for (int t = 0; t < graph_.num_tensors; ++t) plan->buffer[static_cast<size_t>(t)] = t;
  const std::vector<int> fused = fuse_adds_ ? fused_adds(graph_) : std::vector<int>(graph_.ops.size(), -1);
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    if (fused[k] < 0) continue;
    const Op& add = graph_.ops[k];
    const Op& conv = graph_.ops[static_cast<size_t>(fused[k])];
    const int skip = add.src == conv.dst ? add.src2 : add.src;
    const int into = plan->buffer[static_cast<size_t>(skip)];
    plan->buffer[static_cast<size_t>(conv.dst)] = plan->buffer[static_cast<size_t>(add.dst)] = into;
    plan->sum[static_cast<size_t>(fused[k])] = true;
    plan->done[k] = true;
  }
  plan->buffers.resize(static_cast<size_t>(graph_.num_tensors));
  plan->buffers[0].resize(static_cast<size_t>(n * graph_.input.size()));
  // int8 tensors: an int8 op hands its output to its readers quantised when
  // they all are int8 ops (with the same input scale: they read the same
  // tensor, so calibration gave them the same one); otherwise in FP32. A
  // fused add reads its skip tensor in place: the conv before it adds the
  // skip (sum post-op) and writes the add's output into the same buffer. So
  // the skip and the output are int8 together or not at all, with one
  // signedness, and the conv rescales the skip from its scale to the
  // output's (sum_scale); MobileNetV2 then stays int8 through its residual
  // adds instead of quantising each block's input again.
  const auto tensors = static_cast<size_t>(graph_.num_tensors);
  std::vector<std::vector<size_t>> readers(tensors);
  std::vector<bool> weighted_out(tensors, false), fused_out(tensors, false);
  std::vector<int> skip_of(graph_.ops.size(), -1), add_of(graph_.ops.size(), -1);  // per fused add / its conv
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    const Op& op = graph_.ops[k];
    readers[static_cast<size_t>(op.src)].push_back(k);
    if (op.src2 >= 0) readers[static_cast<size_t>(op.src2)].push_back(k);
    weighted_out[static_cast<size_t>(op.dst)] = has_weights(op.kind);
    if (fused[k] < 0) continue;
    skip_of[k] = op.src == graph_.ops[static_cast<size_t>(fused[k])].dst ? op.src2 : op.src;
    add_of[static_cast<size_t>(fused[k])] = static_cast<int>(k);
    fused_out[static_cast<size_t>(op.dst)] = true;
  }
  plan->int8_tensor.assign(tensors, false);
  std::vector<kernels::InputQuant> tensor_quant(tensors);
  for (size_t t = 1; t < tensors && graph_.int8 && observe_ == nullptr; ++t) {
    if (static_cast<int>(t) == graph_.output || !(weighted_out[t] || fused_out[t])) continue;
    const Op* first = nullptr;
    bool all = true;
    for (size_t j : readers[t]) {
      const Op& reader = graph_.ops[j];
      if (skip_of[j] == static_cast<int>(t)) continue;  // a fused add: its conv reads the tensor
      all = all && has_weights(reader.kind) && reader.src == static_cast<int>(t) &&
            (first == nullptr ||
             (reader.quant.scale == first->quant.scale && reader.quant.is_unsigned == first->quant.is_unsigned));
      if (first == nullptr) first = &reader;
    }
    if (!all || first == nullptr) continue;
    plan->int8_tensor[t] = true;
    tensor_quant[t] = first->quant;
  }
  for (bool changed = true; changed;) {  // chained adds share one buffer: to a fixed point
    changed = false;
    for (size_t k = 0; k < graph_.ops.size(); ++k) {
      if (skip_of[k] < 0) continue;
      const auto b = static_cast<size_t>(skip_of[k]), d = static_cast<size_t>(graph_.ops[k].dst);
      const bool both =
          plan->int8_tensor[b] && plan->int8_tensor[d] && tensor_quant[b].is_unsigned == tensor_quant[d].is_unsigned;
      if (both || (!plan->int8_tensor[b] && !plan->int8_tensor[d])) continue;
      plan->int8_tensor[b] = plan->int8_tensor[d] = false;
      changed = true;
    }
  }
  std::vector<kernels::Int8Tensor> dst_int8(graph_.ops.size());
  std::vector<float> sum_scale(graph_.ops.size(), 1.0f);
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    if (!has_weights(graph_.ops[k].kind)) continue;
    // A fused conv writes the add's output.
    const int add = add_of[k];
    const auto t = static_cast<size_t>(add >= 0 ? graph_.ops[static_cast<size_t>(add)].dst : graph_.ops[k].dst);
    if (!plan->int8_tensor[t]) continue;
    dst_int8[k] = {true, tensor_quant[t]};
    if (add >= 0)
      sum_scale[k] = tensor_quant[static_cast<size_t>(skip_of[static_cast<size_t>(add)])].scale / tensor_quant[t].scale;
  }
  plan->int8_out.assign(graph_.ops.size(), false);
  for (size_t k = 0; k < graph_.ops.size(); ++k) plan->int8_out[k] = dst_int8[k].on;
  plan->conv_spec.resize(graph_.ops.size());
  plan->dense_spec.resize(graph_.ops.size());
  plan->weights.resize(graph_.ops.size());
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    const Op& op = graph_.ops[k];
    const bool src_int8 = plan->int8_tensor[static_cast<size_t>(op.src)];
    auto& dst_buffer = plan->buffers[static_cast<size_t>(plan->buffer[static_cast<size_t>(op.dst)])];
    dst_buffer.resize(std::max(dst_buffer.size(), static_cast<size_t>(n * op.out.size())));
    const kernels::InferWeights w{op.weights.empty() ? nullptr : op.weights.data(),
                                  op.qweights.empty() ? nullptr : op.qweights.data(),
                                  op.wscales.empty() ? nullptr : op.wscales.data(), op.bias.data()};
    plan->weights[k] = w;
    if (op.kind == OpKind::kConv) {
      kernels::InferConvSpec s{n,         op.in.c,   op.in.h,     op.in.w,     op.out.c,      op.kernel,    op.kernel,
                               op.stride, op.groups, op.pad_top,  op.pad_left, op.pad_bottom, op.pad_right, op.out.h,
                               op.out.w,  op.act,    graph_.int8, op.quant,    src_int8,      dst_int8[k]};
      s.sum = plan->sum[k];
      s.sum_scale = sum_scale[k];
      plan->ops[k] = kernels::make_infer_conv(s, w, threads_);
      plan->conv_spec[k] = s;
    } else if (op.kind == OpKind::kDense) {
      kernels::InferDenseSpec s{n, op.in.size(), op.out.size(), op.act, graph_.int8, op.quant, src_int8, dst_int8[k]};
      plan->ops[k] = kernels::make_infer_dense(s, w, threads_);
      plan->dense_spec[k] = s;
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

ChunkSchedule Engine::schedule(int64_t n) const {
  // Calibration records each op's input range into one Calibration: one chunk at a time.
  if (observe_ != nullptr) return {cache_chunk(n, samples_in_l2_), 1};
  return chunk_schedule(n, threads_ > 0 ? threads_ : std::max(1, omp_get_max_threads()), samples_one_, samples_in_l2_);
}

int64_t Engine::chunk_size(int64_t n) const { return schedule(n).chunk; }

kernels::LossResult Engine::evaluate(const data::Batch& batch, std::vector<float>* outputs) {
  const int64_t n = batch.count;
  HPCNN_CHECK(n > 0, "empty batch");
  HPCNN_CHECK(static_cast<int64_t>(batch.samples.size()) == n * graph_.input.size(), "batch has ", batch.samples.size(),
              " values, the model's input ", graph_.input.str(), " x ", n, " needs ", n * graph_.input.size());
  if (observe_ != nullptr && observe_->min.size() != graph_.ops.size()) {
    observe_->min.assign(graph_.ops.size(), std::numeric_limits<float>::infinity());
    observe_->max_abs.assign(graph_.ops.size(), 0.0f);
  }
  if (observe_ == nullptr && band_schedule_wanted(n, threads_, graph_.int8)) {  // batch 1 on several threads
    std::vector<float> logits = run_bands(batch.samples.data());
    return loss_of(batch, logits, outputs);
  }
  const ChunkSchedule plan = schedule(n);
  const int64_t chunk = plan.chunk;
  std::vector<float> logits;
  if (plan.slots > 1) {
    run_slots(batch.samples.data(), n, plan, logits);
    return loss_of(batch, logits, outputs);
  }
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t m = std::min(chunk, n - first);
    const std::vector<float>& out = run_chunk(batch.samples.data() + first * graph_.input.size(), m);
    if (first == 0) logits.reserve(static_cast<size_t>(n) * (out.size() / static_cast<size_t>(m)));
    logits.insert(logits.end(), out.begin(), out.end());
  }
  if (observe_ != nullptr) observe_->samples += n;
  return loss_of(batch, logits, outputs);
}

void Engine::run_slots(const float* samples, int64_t n, const ChunkSchedule& plan, std::vector<float>& logits) {
  // One engine a slot, each with its own plans (tensors, oneDNN ops and
  // their memory objects) made and run on its one thread: oneDNN runs a
  // primitive sequentially inside an OpenMP parallel region, and its kernels
  // made for one thread there are the ones a one-thread engine makes, so a
  // sample's logits are bitwise those of Engine(graph, 1) with the same
  // chunks (test_infer_schedule.cpp).
  while (slots_.size() < static_cast<size_t>(plan.slots)) slots_.push_back(std::make_unique<Engine>(graph_, 1));
  int64_t outs = 0;  // logits a sample
  for (const Op& op : graph_.ops)
    if (op.dst == graph_.output) outs = op.out.size();
  logits.assign(static_cast<size_t>(n * outs), 0.0f);
  const int64_t chunks = (n + plan.chunk - 1) / plan.chunk, in = graph_.input.size();
  run_chunk_slots(
      plan.slots, chunks, [](int) {},
      [&](int slot, int64_t c) {
        const int64_t first = c * plan.chunk, m = std::min(plan.chunk, n - first);
        const std::vector<float>& out = slots_[static_cast<size_t>(slot)]->run_chunk(samples + first * in, m);
        std::copy_n(out.begin(), m * outs, logits.begin() + first * outs);
      });
  for (const auto& slot : slots_)  // implementations(): the ops a slot ran on a whole chunk (one thread)
    for (const auto& p : slot->plans_)
      if (p->n == plan.chunk) last_ = p.get();
}

const std::vector<float>& Engine::run_chunk(const float* samples, int64_t n) {
  Plan& p = plan_for(n);
  // NCHW samples -> NHWC.
  {
    const int64_t c = graph_.input.c, hw = graph_.input.h * graph_.input.w;
    float* x = p.data(0);
    for (int64_t a = 0; a < n; ++a)
      for (int64_t k = 0; k < c; ++k)
        for (int64_t s = 0; s < hw; ++s) x[(a * hw + s) * c + k] = samples[(a * c + k) * hw + s];
  }
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    const Op& op = graph_.ops[k];
    const float* src = p.data(op.src);
    float* dst = p.data(op.dst);
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
    if (p.done[k]) continue;  // the conv before it added (sum post-op)
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
        const float* b = p.data(op.src2);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count; ++i) dst[i] = src[i] + b[i];
        break;
      }
      case OpKind::kGlobalAvgPool: global_avg_pool(src, dst, n, op.in.h * op.in.w, op.in.c); break;
      case OpKind::kMaxPool: max_pool(op, src, dst, n); break;
      case OpKind::kPad: zero_pad(op, src, dst, n); break;
    }
  }
  return p.buffers[static_cast<size_t>(p.buffer[static_cast<size_t>(graph_.output)])];
}

std::vector<float> Engine::run_bands(const float* sample) {
  Plan& p = plan_for(1);
  if (!p.bands) {
    std::vector<BandOp> ops(graph_.ops.size());
    for (size_t k = 0; k < ops.size(); ++k) {
      ops[k].skip = p.done[k];
      ops[k].dst_int8 = p.int8_out[k];
      ops[k].conv = graph_.ops[k].kind == OpKind::kConv ? &p.conv_spec[k] : nullptr;
      ops[k].dense = graph_.ops[k].kind == OpKind::kDense ? &p.dense_spec[k] : nullptr;
      ops[k].weights = p.weights[k];
    }
    std::vector<BandTensor> tensors(static_cast<size_t>(graph_.num_tensors));
    for (int t = 0; t < graph_.num_tensors; ++t)
      tensors[static_cast<size_t>(t)] = {p.data(t), p.int8_tensor[static_cast<size_t>(t)],
                                         p.buffer[static_cast<size_t>(t)]};
    p.bands = std::make_unique<BandSchedule>(graph_, std::move(ops), std::move(tensors),
                                             threads_ > 0 ? threads_ : omp_get_max_threads());
  }
  p.bands->run(sample);
  return p.buffers[static_cast<size_t>(p.buffer[static_cast<size_t>(graph_.output)])];
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
    if (last_->ops[k])
      out.push_back(cat(graph_.ops[k].layers, last_->sum[k] ? " + the add after it (sum post-op)" : "",
                        last_->int8_out[k] ? " -> int8" : "", ": ", last_->ops[k]->implementation()));
  if (last_->bands)  // batch 1 on several threads ran as bands (band_schedule.hpp)
    out.push_back(cat("batch 1: band schedule on ", last_->bands->threads(), " threads, ", last_->bands->barriers(),
                      " barriers a pass, ", last_->bands->whole_convs(), " conv(s) run whole"));
  return out;
}

}  // namespace hpcnn::quant
