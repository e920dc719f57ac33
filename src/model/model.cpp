// Model: flat buffers, per-batch-size workspaces, forward/backward through the backend.
#include "model/model.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <exception>
#include <utility>

#include "common/maths.hpp"
#include "core/cache_chunk.hpp"
#include "core/checked.hpp"
#include "core/chunk_slots.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/fusion.hpp"

namespace hpcnn::model {

const char* loss_name(LossKind loss) {
  return loss == LossKind::kSoftmaxCrossEntropy ? "softmax-cross-entropy" : "mean-squared-error";
}

// ---- DeviceBuffer -------------------------------------------------------------

DeviceBuffer::DeviceBuffer(kernels::Backend& backend, int64_t count)
    : backend_(&backend), ptr_(backend.allocate(count)), count_(count) {}

DeviceBuffer DeviceBuffer::borrow(kernels::Backend& backend, float* storage, int64_t count) {
  DeviceBuffer b;
  b.backend_ = &backend;
  b.ptr_ = storage;
  b.count_ = count;
  b.owned_ = false;
  backend.fill(storage, 0.0f, count);
  return b;
}

DeviceBuffer::~DeviceBuffer() {
  if (owned_ && backend_ != nullptr && ptr_ != nullptr) backend_->release(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : backend_(other.backend_), ptr_(other.ptr_), count_(other.count_), owned_(other.owned_) {
  other.ptr_ = nullptr;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (owned_ && backend_ != nullptr && ptr_ != nullptr) backend_->release(ptr_);
    backend_ = other.backend_;
    ptr_ = other.ptr_;
    count_ = other.count_;
    owned_ = other.owned_;
    other.ptr_ = nullptr;
  }
  return *this;
}

std::vector<float> DeviceBuffer::to_host() const {
  std::vector<float> out(static_cast<size_t>(count_));
  if (count_ > 0) backend_->download(out.data(), ptr_, count_);
  return out;
}

void DeviceBuffer::from_host(std::span<const float> values) {
  HPCNN_CHECK(static_cast<int64_t>(values.size()) == count_, "buffer holds ", count_, " values, got ", values.size());
  if (count_ > 0) backend_->upload(ptr_, values.data(), count_);
}

// ---- dropout ------------------------------------------------------------------

kernels::DropoutParams dropout_params(uint64_t seed, int64_t epoch, int layer, double rate) {
  kernels::DropoutParams d;
  d.layer_key =
      derive_key({seed, 0x44524F50ULL /* "DROP" */, static_cast<uint64_t>(epoch), static_cast<uint64_t>(layer)});
  d.threshold = kernels::maths::dropout_threshold(rate);
  d.keep_scale = static_cast<float>(1.0 / (1.0 - rate));
  return d;
}

void dropout_mask(uint64_t seed, int64_t epoch, int layer, int64_t sample_index, double rate, std::span<float> mask) {
  const kernels::DropoutParams d = dropout_params(seed, epoch, layer, rate);
  const uint64_t key = kernels::maths::dropout_sample_key(d.layer_key, sample_index);
  for (size_t e = 0; e < mask.size(); ++e)
    mask[e] = kernels::maths::dropout_mask_value(key, static_cast<int64_t>(e), d.threshold, d.keep_scale);
}

// ---- Workspace: ops and buffers for one batch size --------------------------

struct Model::Workspace {
  int64_t n = 0;
  std::vector<std::unique_ptr<kernels::ConvOp>> conv;  // per layer (null unless conv)
  std::vector<std::unique_ptr<kernels::PoolOp>> pool;
  std::vector<std::unique_ptr<kernels::DenseOp>> dense;
  std::vector<std::unique_ptr<kernels::BatchNormOp>> bn;
  std::vector<DeviceBuffer> owned;
  std::vector<float*> act;                    // act[0] input .. act[L] output
  std::vector<float*> diff;                   // diff[k] = dL/d act[k] (diff[0] unused)
  std::vector<bool> relu_fused;               // per layer: a ReLU the conv before it applies
  std::vector<bool> relu_in_pool;             // per layer: a ReLU whose backward the max-pool after it does
  std::vector<std::vector<size_t>> added_to;  // per tensor k: the add layers that read act[k] as their second input
  DeviceBuffer targets;                       // regression targets (N, T)

  float* make(kernels::Backend& b, int64_t count) {
    owned.emplace_back(b, count);
    return owned.back().get();
  }
};

namespace {
/// Floats a workspace holds per sample: the input, then each layer's output and
/// its gradient (an upper bound of what workspace_for allocates). Checked: `what`
/// names the overflow.
int64_t workspace_floats_per_sample(const ModelSpec& spec, const std::string& what) {
  int64_t per_sample = spec.input.size();
  for (const ResolvedLayer& l : spec.layers) per_sample = checked_add(per_sample, 2 * l.output.size(), what);
  return per_sample;
}

/// The cache rule's samples a chunk (core/cache_chunk.hpp) for an evaluation
/// pass: the larger of the samples whose largest op's input and output fit the
/// threads' L2 and samples_for_weights of the largest conv or dense weight
/// matrix, FP32 (an upper bound under bf16), on the backend's OpenMP threads. The ops are the
/// layers the inference engine's folded graph keeps (conv, dense, pools, pad,
/// add); activations, dropout, flatten and batch norm fold into the op before
/// them or run in place, so both passes chunk a model alike.
double eval_samples_in_l2(const ModelSpec& spec, int threads) {
  int64_t most = 1;
  for (const ResolvedLayer& l : spec.layers) {
    switch (l.spec.kind) {
      case LayerKind::kRelu:
      case LayerKind::kRelu6:
      case LayerKind::kDropout:
      case LayerKind::kFlatten:
      case LayerKind::kBatchNorm: break;
      default: most = std::max(most, l.input.size() + l.output.size());
    }
  }
  int64_t weights = 0;  // the largest weight matrix (conv and dense)
  for (const ResolvedLayer& l : spec.layers)
    if (l.spec.kind == LayerKind::kConv || l.spec.kind == LayerKind::kDense) weights = std::max(weights, l.weights);
  const int64_t bytes = most * static_cast<int64_t>(sizeof(float));
  return std::max(samples_in_l2(bytes, threads),
                  samples_for_weights(weights * static_cast<int64_t>(sizeof(float)), bytes, threads));
}

/// `n` samples of `batch` from `first` into `out` (labels, targets and
/// indices where the batch has them).
void slice_batch(const data::Batch& batch, int64_t first, int64_t n, data::Batch& out) {
  const auto rows = [&](const auto& from, auto& to) {
    const size_t per = from.size() / static_cast<size_t>(batch.count);
    const auto begin = from.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(first) * per);
    to.assign(begin, begin + static_cast<std::ptrdiff_t>(static_cast<size_t>(n) * per));
  };
  out.count = n;
  rows(batch.samples, out.samples);
  rows(batch.labels, out.labels);
  rows(batch.targets, out.targets);
  rows(batch.indices, out.indices);
}
}  // namespace

void require_batch_fits(const ModelSpec& spec, int64_t n) {
  HPCNN_CHECK(n >= 1, "batch of ", n, " samples");
  const std::string what = cat("a batch of ", n, " samples of model '", spec.name, "'");
  const int64_t floats = checked_mul(workspace_floats_per_sample(spec, what), n, what);
  const double bytes = static_cast<double>(floats) * sizeof(float);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGESIZE);
  const double physical = pages > 0 && page_size > 0 ? static_cast<double>(pages) * static_cast<double>(page_size) : 0;
  HPCNN_CHECK(physical == 0 || bytes <= physical, what, " needs ", bytes / (1 << 30), " GiB of activations, more than ",
              "this machine's ", physical / (1 << 30), " GiB (a smaller --batch?)");
}

Model::Workspace& Model::workspace_for(int64_t n) {
  auto it = workspaces_.find(n);
  if (it != workspaces_.end()) return *it->second;
  require_batch_fits(spec_, n);
  auto ws = std::make_unique<Workspace>();
  Workspace& p = *ws;
  p.n = n;
  const size_t layers = spec_.layers.size();
  p.conv.resize(layers);
  p.pool.resize(layers);
  p.dense.resize(layers);
  p.bn.resize(layers);
  // Tensors an add layer reads besides its chain input: they have a second
  // consumer, so no fusion may change or hide them, and in backward their
  // gradient is the chain's plus each add's.
  p.added_to.assign(layers + 1, {});
  for (size_t i = 0; i < layers; ++i)
    if (spec_.layers[i].spec.kind == LayerKind::kAdd)
      p.added_to[static_cast<size_t>(spec_.layers[i].add_source)].push_back(i);
  const auto shared = [&](size_t k) { return k <= layers && !p.added_to[k].empty(); };
  p.act.assign(layers + 1, nullptr);
  p.diff.assign(layers + 1, nullptr);
  p.act[0] = p.make(backend_, n * spec_.input.size());
  // Tensors a conv hands through a ReLU to another conv may stay in the
  // backend's private layout (Backend::has_private_layout): the first conv's
  // output, the ReLU's output and both gradients. (Into a max-pool they do
  // not: the pool reads memory at full bandwidth either way, and a blocked
  // pool writing plain output was slower than the reorder it saves.)
  const auto kind = [&](size_t i) { return i < layers ? spec_.layers[i].spec.kind : LayerKind::kFlatten; };
  std::vector<bool> private_out(layers, false);  // layer i's output (and the ReLU's after it) private
  for (size_t i = 0; i + 2 < layers; ++i) {
    private_out[i] = kind(i) == LayerKind::kConv && kind(i + 1) == LayerKind::kRelu &&
                     kind(i + 2) == LayerKind::kConv && backend_.has_private_layout(spec_.layers[i].output.c) &&
                     !shared(i + 1) && !shared(i + 2);
  }
  const auto private_in = [&](size_t i) { return i >= 2 && private_out[i - 2]; };
  // A ReLU right after a conv runs inside the conv's forward where the backend
  // can (Backend::fuses_conv_relu): the conv writes the ReLU's output, and the
  // two layers share that buffer (nothing reads the value before the ReLU).
  // (The rules: model/fusion.hpp, shared with the inference folder.)
  const std::vector<bool> add_read = add_inputs(spec_);
  p.relu_fused.assign(layers, false);
  for (size_t i = 1; i < layers; ++i)
    p.relu_fused[i] = kind(i) == LayerKind::kRelu && backend_.fuses_conv_relu() &&
                      may_fuse(Fuser::kTraining, kind(i - 1), spec_, add_read, i);
  // A ReLU right before a max-pool leaves its backward to the pool where the
  // backend can (Backend::fuses_relu_into_pool): the pool passes gradient
  // only where the ReLU would, and the ReLU's input gradient is the pool's.
  p.relu_in_pool.assign(layers, false);
  for (size_t i = 0; i + 1 < layers; ++i)
    p.relu_in_pool[i] = kind(i + 1) == LayerKind::kMaxPool && backend_.fuses_relu_into_pool() &&
                        may_fuse(Fuser::kTraining, kind(i), spec_, add_read, i + 1);
  for (size_t i = 0; i < layers; ++i) {
    const ResolvedLayer& l = spec_.layers[i];
    const int64_t out = n * l.output.size();
    // A backend may refuse a geometry (oneDNN: "could not create a
    // descriptor"): say which layer.
    try {
      switch (l.spec.kind) {
        case LayerKind::kConv:
          p.conv[i] = backend_.make_conv({n, l.input.c, l.input.h, l.input.w, l.output.c, l.spec.kernel, l.spec.kernel,
                                          l.spec.stride, l.pad_h.before, l.pad_w.before, l.pad_h.after, l.pad_w.after,
                                          l.output.h, l.output.w, private_in(i), private_out[i],
                                          i + 1 < layers && p.relu_fused[i + 1], l.spec.groups, l.spec.bias});
          break;
        case LayerKind::kBatchNorm:
          p.bn[i] = backend_.make_batch_norm({n, l.input.c, l.input.h, l.input.w, static_cast<float>(l.spec.epsilon),
                                              static_cast<float>(l.spec.momentum)});
          break;
        case LayerKind::kMaxPool:
          p.pool[i] = backend_.make_pool({n, l.input.c, l.input.h, l.input.w, l.spec.kernel, l.spec.stride, l.output.h,
                                          l.output.w, i > 0 && p.relu_in_pool[i - 1]});
          break;
        case LayerKind::kDense: p.dense[i] = backend_.make_dense({n, l.input.size(), l.output.size()}); break;
        case LayerKind::kDropout: break;
        case LayerKind::kRelu:
        case LayerKind::kRelu6:
        case LayerKind::kAdd:
        case LayerKind::kGlobalAvgPool:
        case LayerKind::kZeroPad:
        case LayerKind::kFlatten: break;
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      HPCNN_THROW("model: layer ", i + 1, " '", l.spec.str(), "' on input ", l.input.str(), " with batch ", n, ": the ",
                  backend_.name(), " backend cannot run it (", e.what(), ")");
    }
    // Flatten is a reshape: it shares its input's buffers; so does a fused ReLU.
    const bool alias = l.spec.kind == LayerKind::kFlatten || p.relu_fused[i];
    p.act[i + 1] = alias ? p.act[i] : p.make(backend_, out);
  }
  // diff[k] is the gradient of act[k]; a flatten or an add (layer k) passes
  // its output gradient through unchanged, so its input gradient shares that
  // buffer. (Nothing writes that buffer later in backward, so the add's
  // source can read it after the chain is done: see train_step.)
  for (size_t k = layers; k >= 1; --k) {
    // (An add whose chain input also feeds another add gets its own copy:
    // that input's gradient grows by the other add's share, and the add's
    // own source must not see it.)
    const bool flatten_consumes = k < layers && (spec_.layers[k].spec.kind == LayerKind::kFlatten ||
                                                 (spec_.layers[k].spec.kind == LayerKind::kAdd && !shared(k)));
    const bool pool_relu = k < layers && p.relu_in_pool[k];  // the pool writes the ReLU's input gradient
    p.diff[k] = flatten_consumes || pool_relu ? p.diff[k + 1] : p.make(backend_, n * spec_.layers[k - 1].output.size());
  }
  if (loss_ == LossKind::kMeanSquaredError) p.targets = DeviceBuffer(backend_, n * spec_.output().size());
  workspaces_[n] = std::move(ws);
  return *workspaces_[n];
}

// ---- construction -------------------------------------------------------------

Model::Model(ModelSpec spec, LossKind loss, kernels::Backend& backend, uint64_t seed, float* grads_storage)
    : spec_(std::move(spec)), loss_(loss), backend_(backend), seed_(seed) {
  int64_t offset = 0;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const ResolvedLayer& l = spec_.layers[i];
    ParamView v{static_cast<int>(i),         offset, l.weights, offset + l.weights, l.bias,
                offset + l.weights + l.bias, l.state};
    offset += l.params();
    views_.push_back(v);
  }
  params_ = DeviceBuffer(backend_, offset);
  grads_ =
      grads_storage != nullptr ? DeviceBuffer::borrow(backend_, grads_storage, offset) : DeviceBuffer(backend_, offset);
  // Keras defaults: glorot_uniform kernels, zero biases (allocate() zeroes).
  // Written a window at a time, straight into the parameters on a CPU
  // backend: the same values in the same order. (Issue 30: a host vector of
  // every parameter was one W more beside the weights and the zeroed
  // gradients while the model was built, 3 W: above a sharded rank's
  // training peak from 4 ranks on, 2.5 W with Adam.)
  constexpr int64_t kInitWindow = int64_t{1} << 20;
  const bool host = backend_.device() == kernels::DeviceKind::kCpu;
  std::vector<float> window(host ? 0 : static_cast<size_t>(std::min(offset, kInitWindow)));
  // params [first, first + count) = gen(), gen() ... in order.
  const auto put = [&](int64_t first, int64_t count, const auto& gen) {
    for (int64_t at = 0; at < count; at += kInitWindow) {
      const int64_t n = std::min(kInitWindow, count - at);
      float* dst = host ? params_.get() + first + at : window.data();
      for (int64_t j = 0; j < n; ++j) dst[j] = gen();
      if (!host) backend_.upload(params_.get() + first + at, window.data(), n);
    }
  };
  for (const ParamView& v : views_) {
    if (v.weights_count == 0) continue;
    const ResolvedLayer& l = spec_.layers[static_cast<size_t>(v.layer)];
    if (l.spec.kind == LayerKind::kBatchNorm) {
      // Keras: gamma 1, beta 0, running mean 0, running variance 1.
      put(v.weights_offset, v.weights_count, [] { return 1.0f; });
      put(v.state_offset + v.state_count / 2, v.state_count / 2, [] { return 1.0f; });
      continue;
    }
    // Keras's fans of a kernel (KH, KW, IN, OUT): IN and OUT times KH * KW;
    // a grouped Conv2D's IN is its channels per group, a DepthwiseConv2D's
    // kernel is (KH, KW, C, 1).
    const double receptive = l.spec.kind == LayerKind::kConv ? static_cast<double>(l.spec.kernel * l.spec.kernel) : 1.0;
    const double fan_in = static_cast<double>(l.spec.depthwise ? l.input.c : l.input.c / l.spec.groups) * receptive;
    const double fan_out = static_cast<double>(l.spec.depthwise ? 1 : l.output.c) * receptive;
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    Rng rng(derive_key({seed_, 0x494E4954ULL /* "INIT" */, static_cast<uint64_t>(v.layer)}));
    put(v.weights_offset, v.weights_count, [&] { return static_cast<float>(rng.uniform(-limit, limit)); });
  }
  reset_layer_times();
}

// ---- HostLayerRecorder -----------------------------------------------------------

void HostLayerRecorder::pass_begin(Pass pass) {
  pass_start_[static_cast<int>(pass)] = std::chrono::steady_clock::now();
}

void HostLayerRecorder::begin(Pass /*pass*/, int /*layer*/) { layer_start_ = std::chrono::steady_clock::now(); }

void HostLayerRecorder::end(Pass pass, int layer) {
  backend_.synchronize();
  const auto now = std::chrono::steady_clock::now();
  const auto pass_start = pass_start_[static_cast<int>(pass)];
  spans_.push_back({pass, layer, std::chrono::duration<double>(layer_start_ - pass_start).count(),
                    std::chrono::duration<double>(now - layer_start_).count()});
}

std::vector<LayerRecorder::Span> HostLayerRecorder::take() { return std::exchange(spans_, {}); }

namespace {
/// Adds the time since construction to `slot` when profiling (after a backend
/// sync), and tells `recorder` (when given) where layer `layer`'s pass begins and ends.
class LayerTimer {
 public:
  LayerTimer(bool on, kernels::Backend& backend, double& slot, LayerRecorder* recorder = nullptr,
             LayerRecorder::Pass pass = LayerRecorder::Pass::kForward, int layer = -1)
      : on_(on), backend_(backend), slot_(slot), recorder_(recorder), pass_(pass), layer_(layer) {
    if (recorder_ != nullptr) recorder_->begin(pass_, layer_);
    if (on_) start_ = std::chrono::steady_clock::now();
  }
  ~LayerTimer() {
    if (on_) {
      backend_.synchronize();
      slot_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    if (recorder_ != nullptr) recorder_->end(pass_, layer_);
  }
  LayerTimer(const LayerTimer&) = delete;
  LayerTimer& operator=(const LayerTimer&) = delete;

 private:
  bool on_;
  kernels::Backend& backend_;
  double& slot_;
  LayerRecorder* recorder_;
  LayerRecorder::Pass pass_;
  int layer_;
  std::chrono::steady_clock::time_point start_;
};
}  // namespace

Model::~Model() = default;

// ---- forward / backward --------------------------------------------------------

void Model::forward(Workspace& p, const data::Batch& batch, bool training, int64_t epoch, LayerRecorder* recorder) {
  const int64_t n = p.n;
  HPCNN_CHECK(static_cast<int64_t>(batch.samples.size()) == n * spec_.input.size(), "batch has ", batch.samples.size(),
              " values, model input ", spec_.input.str(), " x ", n, " needs ", n * spec_.input.size());
  backend_.upload(p.act[0], batch.samples.data(), n * spec_.input.size());
  float* params = params_.get();
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    const ResolvedLayer& l = spec_.layers[i];
    const ParamView& v = views_[i];
    const int64_t count = n * l.output.size();
    float* src = p.act[i];
    float* dst = p.act[i + 1];
    const LayerTimer timer(profiling_, backend_, layer_times_[i].forward_s, recorder, LayerRecorder::Pass::kForward,
                           static_cast<int>(i));
    switch (l.spec.kind) {
      case LayerKind::kConv:
        p.conv[i]->forward(src, params + v.weights_offset, l.spec.bias ? params + v.bias_offset : nullptr, dst);
        break;
      case LayerKind::kBatchNorm:
        if (training && i >= frozen_) {
          p.bn[i]->forward_training(src, params + v.weights_offset, params + v.bias_offset, params + v.state_offset,
                                    params + v.state_offset + l.output.c, dst);
        } else {
          p.bn[i]->forward_inference(src, params + v.weights_offset, params + v.bias_offset, params + v.state_offset,
                                     params + v.state_offset + l.output.c, dst);
        }
        break;
      case LayerKind::kRelu6: backend_.relu6_forward(src, dst, count); break;
      case LayerKind::kAdd: backend_.add(src, p.act[static_cast<size_t>(l.add_source)], dst, count); break;
      case LayerKind::kGlobalAvgPool:
        backend_.global_avg_pool_forward(src, dst, n * l.input.c, l.input.h * l.input.w);
        break;
      case LayerKind::kZeroPad:
        backend_.zero_pad_forward(src, dst, n * l.input.c, l.input.h, l.input.w, l.spec.pad[0], l.spec.pad[1],
                                  l.spec.pad[2], l.spec.pad[3]);
        break;
      case LayerKind::kMaxPool:  // evaluation has no backward: no argmax
        if (training) {
          p.pool[i]->forward(src, dst);
        } else {
          p.pool[i]->forward_inference(src, dst);
        }
        break;
      case LayerKind::kDense: p.dense[i]->forward(src, params + v.weights_offset, params + v.bias_offset, dst); break;
      case LayerKind::kRelu:
        if (!p.relu_fused[i]) backend_.relu_forward(src, dst, count);  // fused: the conv wrote it (src == dst)
        break;
      case LayerKind::kDropout:
        if (training && l.spec.rate > 0.0) {
          // The mask is a pure function of (seed, epoch, layer, global sample
          // index, element): the same on every backend, split and rank.
          backend_.dropout_forward(src, dst, n, l.output.size(), batch.indices.data(),
                                   dropout_params(seed_, epoch, static_cast<int>(i), l.spec.rate));
        } else {
          backend_.copy(dst, src, count);
        }
        break;
      case LayerKind::kFlatten: break;  // dst aliases src
    }
  }
}

void Model::loss_and_diff(Workspace& p, const data::Batch& batch, float scale) {
  const int64_t out = spec_.output().size();
  float* logits = p.act.back();
  float* diff = p.diff.back();
  if (loss_ == LossKind::kSoftmaxCrossEntropy) {
    HPCNN_CHECK(static_cast<int64_t>(batch.labels.size()) == p.n, "classification loss needs labels");
    for (int32_t label : batch.labels) {
      HPCNN_CHECK(label >= 0 && label < out, "label ", label, " out of range for a model with ", out, " outputs");
    }
    backend_.softmax_cross_entropy(logits, batch.labels.data(), p.n, out, scale, diff);
    return;
  }
  HPCNN_CHECK(static_cast<int64_t>(batch.targets.size()) == p.n * out, "regression loss needs ", out,
              " target(s) per sample");
  backend_.upload(p.targets.get(), batch.targets.data(), p.n * out);
  backend_.mean_squared_error(logits, p.targets.get(), p.n, out, scale, diff);
}

namespace {
/// Reports one layer's finished gradients (weights, then bias: one range).
void grads_ready(const ParamView& v, const Model::GradsReadyFn& on_grads_ready) {
  if (!on_grads_ready) return;
  // The state (batch norm's running statistics) is in the range: its
  // gradient is zero, and the ranges must cover the buffer.
  const int64_t first = v.weights_offset;
  const int64_t last = v.state_offset + v.state_count;
  if (last > first) on_grads_ready(first, last - first);
}
}  // namespace

kernels::LossResult Model::train_step(const data::Batch& batch, float loss_scale, int64_t epoch, StepTimes* times,
                                      const GradsReadyFn& on_grads_ready, LayerRecorder* recorder) {
  HPCNN_CHECK(batch.count > 0, "empty batch");
  Workspace& p = workspace_for(batch.count);
  const auto t0 = std::chrono::steady_clock::now();
  if (recorder != nullptr) recorder->pass_begin(LayerRecorder::Pass::kForward);  // after t0: spans start >= 0
  forward(p, batch, /*training=*/true, epoch, recorder);
  {
    const LayerTimer timer(profiling_, backend_, layer_times_.back().forward_s);
    loss_and_diff(p, batch, loss_scale);  // the loss stays on the device until read_loss() below
  }
  std::chrono::steady_clock::time_point t1;
  if (times != nullptr) {
    backend_.synchronize();
    t1 = std::chrono::steady_clock::now();
    times->forward_s = std::chrono::duration<double>(t1 - t0).count();
  }
  if (recorder != nullptr) recorder->pass_begin(LayerRecorder::Pass::kBackward);
  float* params = params_.get();
  float* grads = grads_.get();
  for (size_t i = spec_.layers.size(); i-- > frozen_;) {
    const ResolvedLayer& l = spec_.layers[i];
    const ParamView& v = views_[i];
    const int64_t count = p.n * l.output.size();
    const bool need_diff_src = i > frozen_;  // nothing upstream of the first (trainable) layer
    const LayerTimer timer(profiling_, backend_, layer_times_[i].backward_s, recorder, LayerRecorder::Pass::kBackward,
                           static_cast<int>(i));
    switch (l.spec.kind) {
      case LayerKind::kConv:
        p.conv[i]->backward_weights(p.act[i], p.diff[i + 1], grads + v.weights_offset,
                                    l.spec.bias ? grads + v.bias_offset : nullptr);
        grads_ready(v, on_grads_ready);
        if (need_diff_src) p.conv[i]->backward_data(p.diff[i + 1], params + v.weights_offset, p.diff[i]);
        break;
      case LayerKind::kDense:
        p.dense[i]->backward_weights(p.act[i], p.diff[i + 1], grads + v.weights_offset, grads + v.bias_offset);
        grads_ready(v, on_grads_ready);
        if (need_diff_src) p.dense[i]->backward_data(p.diff[i + 1], params + v.weights_offset, p.diff[i]);
        break;
      case LayerKind::kMaxPool:
        if (need_diff_src) p.pool[i]->backward(p.diff[i + 1], p.diff[i]);
        break;
      case LayerKind::kRelu:
        // In the pool: the pool after it wrote this layer's input gradient (diff[i] == diff[i + 1]).
        if (need_diff_src && !p.relu_in_pool[i]) backend_.relu_backward(p.act[i + 1], p.diff[i + 1], p.diff[i], count);
        break;
      case LayerKind::kDropout:
        if (need_diff_src) {
          if (l.spec.rate > 0.0) {
            backend_.dropout_backward(p.diff[i + 1], p.diff[i], p.n, l.output.size(), batch.indices.data(),
                                      dropout_params(seed_, epoch, static_cast<int>(i), l.spec.rate));
          } else {
            backend_.copy(p.diff[i], p.diff[i + 1], count);
          }
        }
        break;
      case LayerKind::kBatchNorm:
        p.bn[i]->backward(p.act[i], p.diff[i + 1], params + v.weights_offset, need_diff_src ? p.diff[i] : nullptr,
                          grads + v.weights_offset, grads + v.bias_offset);
        grads_ready(v, on_grads_ready);
        break;
      case LayerKind::kRelu6:
        if (need_diff_src) backend_.relu6_backward(p.act[i + 1], p.diff[i + 1], p.diff[i], count);
        break;
      case LayerKind::kGlobalAvgPool:
        if (need_diff_src)
          backend_.global_avg_pool_backward(p.diff[i + 1], p.diff[i], p.n * l.input.c, l.input.h * l.input.w);
        break;
      case LayerKind::kZeroPad:
        if (need_diff_src)
          backend_.zero_pad_backward(p.diff[i + 1], p.diff[i], p.n * l.input.c, l.input.h, l.input.w, l.spec.pad[0],
                                     l.spec.pad[1], l.spec.pad[2], l.spec.pad[3]);
        break;
      case LayerKind::kAdd:  // the source's share is added when the loop reaches it
        if (need_diff_src && p.diff[i] != p.diff[i + 1]) backend_.copy(p.diff[i], p.diff[i + 1], count);
        break;
      case LayerKind::kFlatten: break;  // diff[i] aliases diff[i + 1]
    }
    // act[i] feeds add layers too: its gradient is the chain's (just
    // written) plus each add's output gradient.
    if (need_diff_src)
      for (size_t a : p.added_to[i]) backend_.add(p.diff[i], p.diff[a + 1], p.diff[i], p.n * l.input.size());
  }
  if (times != nullptr) {
    backend_.synchronize();
    times->backward_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  }
  return backend_.read_loss();
}

void Model::set_frozen_layers(size_t count) {
  HPCNN_CHECK(count <= spec_.layers.size(), "model '", spec_.name, "' has ", spec_.layers.size(),
              " layers; cannot freeze ", count);
  frozen_ = count;
}

int64_t Model::trainable_offset() const {
  return frozen_ < views_.size() ? views_[frozen_].weights_offset : num_params();
}

int64_t Model::eval_chunk_size(int64_t n) const { return eval_schedule(n).chunk; }

ChunkSchedule Model::eval_schedule(int64_t n) const {
  // The threads the backend's OpenMP runs with (the fuzz build, without
  // OpenMP, counts one).
#if defined(_OPENMP)
  const int threads = std::max(1, omp_get_max_threads());
#else
  const int threads = 1;
#endif
  if (eval_chunk_ > 0) return {eval_chunk_, 1};
  // A large batch runs in chunks. On the CPU, by the cache rule the inference
  // engine uses (core/cache_chunk.hpp): as many samples as keep the largest
  // op's input and output in the threads' L2 caches, or, where a weight matrix
  // is larger than the L2, as move its bytes through that op on each thread.
  // mnist-cnn at batch 512 (223 MB of buffers in one pass) on AMD EPYC:
  // 19-sample chunks (the L2 term) on 2 threads took 11% less CPU time than the
  // whole batch, 10-sample chunks on 1 thread 4% less; chunks of 32 were faster
  // still (hpcnn-eval-chunks, results/peers/README.md). On every device, at most
  // kEvalBudgetFloats of a plan's buffers (every layer's output and gradient):
  // a MobileNetV2 at 96x96 needs 21 MB per sample, 10 GB at --eval-batch 500,
  // and page-faulting that in was 5x slower per sample than chunks of 100.
  constexpr int64_t kEvalBudgetFloats = int64_t{256} << 20;  // 1 GiB
  const int64_t per_sample = workspace_floats_per_sample(spec_, cat("model '", spec_.name, "'"));
  const int64_t budget = std::max<int64_t>(1, kEvalBudgetFloats / per_sample);
  if (backend_.device() != kernels::DeviceKind::kCpu) return {budget, 1};
  // On the CPU, chunk_schedule decides between one chunk per thread and each
  // op split over the threads (not while profiling: the layer clocks are
  // one set). The slots' workspaces count against the budget together.
  ChunkSchedule plan =
      profiling_ ? ChunkSchedule{cache_chunk(n, eval_samples_in_l2(spec_, threads)), 1}
                 : chunk_schedule(n, threads, eval_samples_in_l2(spec_, 1), eval_samples_in_l2(spec_, threads));
  plan.chunk = std::min(plan.chunk, std::max<int64_t>(1, budget / plan.slots));
  return plan;
}

kernels::LossResult Model::evaluate(const data::Batch& batch, std::vector<float>* outputs) {
  HPCNN_CHECK(batch.count > 0, "empty batch");
  // The backend keeps adding to one loss accumulator across chunks, so the
  // summed loss is added in the same order as in one pass.
  const ChunkSchedule plan = eval_schedule(batch.count);
  const int64_t chunk = plan.chunk;
  const int64_t out = spec_.output().size();
  if (outputs != nullptr) outputs->resize(static_cast<size_t>(batch.count * out));
  if (plan.slots > 1) return evaluate_slots(batch, plan, outputs);
  data::Batch part;
  for (int64_t first = 0; first < batch.count; first += chunk) {
    const int64_t n = std::min(chunk, batch.count - first);
    if (n < batch.count) slice_batch(batch, first, n, part);
    const data::Batch& b = n < batch.count ? part : batch;
    Workspace& p = workspace_for(n);
    forward(p, b, /*training=*/false, 0);
    loss_and_diff(p, b, 1.0f);  // adds to the backend's accumulator; read once below
    if (outputs != nullptr) backend_.download(outputs->data() + first * out, p.act.back(), n * out);
  }
  return backend_.read_loss();
}

Model::Workspace& Model::eval_slot_workspace(size_t slot, int64_t n) {
  // workspace_for builds into workspaces_: swapped with the slot's map for
  // the call, so a slot's workspaces (their ops made on one thread: the
  // caller's) are its own and training's stay as they were.
  if (eval_slots_.size() <= slot) eval_slots_.resize(slot + 1);
  std::swap(workspaces_, eval_slots_[slot]);
  Workspace* ws = nullptr;
  try {
    ws = &workspace_for(n);
  } catch (...) {
    std::swap(workspaces_, eval_slots_[slot]);
    throw;
  }
  std::swap(workspaces_, eval_slots_[slot]);
  return *ws;
}

kernels::LossResult Model::evaluate_slots(const data::Batch& batch, const ChunkSchedule& plan,
                                          std::vector<float>* outputs) {
  // Each chunk's forward on one thread in that thread's slot workspace,
  // whose ops were made while the OpenMP team was one thread, so they are the
  // ops a one-thread model makes and run as they do (oneDNN runs
  // sequentially inside a parallel region, the host loops' nested regions
  // get one thread): a sample's outputs are bitwise a one-thread
  // evaluation's with the same chunks. Chunks go to whichever thread is
  // free (on a shared machine one thread may get less CPU). Then, in chunk
  // order on this thread, each chunk's loss into the backend's accumulator,
  // as the one-chunk-at-a-time loop adds them: the same loss too.
  const int64_t count = batch.count, chunk = plan.chunk, out = spec_.output().size();
  const int64_t chunks = (count + chunk - 1) / chunk, tail = count - (chunks - 1) * chunk;
  const auto slots = static_cast<size_t>(plan.slots);
  std::vector<std::array<Workspace*, 2>> ws(slots);  // per slot: a whole chunk's, the tail's
  std::vector<float> logits(static_cast<size_t>(count * out));
  std::vector<data::Batch> parts(slots);
  // Each thread makes its own slot's ops (run_chunk_slots' prepare, one
  // thread at a time: workspace_for fills a shared map). Not on the calling
  // thread: oneDNN 2.6 built without DNNL_ENABLE_CONCURRENT_EXEC gives many
  // primitives a global scratchpad tied to the thread that made them, so two
  // slots' primitives made on one thread and run at once on two crashed
  // keras-cnn's evaluation (conv -> relu -> conv, integration.quickstart_main).
  run_chunk_slots(
      plan.slots, chunks,
      [&](int slot) {
        ws[static_cast<size_t>(slot)] = {&eval_slot_workspace(static_cast<size_t>(slot), chunk),
                                         &eval_slot_workspace(static_cast<size_t>(slot), tail)};
      },
      [&](int slot, int64_t c) {
        const int64_t first = c * chunk, n = std::min(chunk, count - first);
        data::Batch& part = parts[static_cast<size_t>(slot)];
        slice_batch(batch, first, n, part);
        Workspace& w = *ws[static_cast<size_t>(slot)][n == chunk ? 0 : 1];
        forward(w, part, /*training=*/false, 0);
        backend_.download(logits.data() + first * out, w.act.back(), n * out);
      });
  data::Batch part;
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min(chunk, count - first);
    slice_batch(batch, first, n, part);
    Workspace& w = *ws[0][n == chunk ? 0 : 1];
    backend_.upload(w.act.back(), logits.data() + first * out, n * out);
    loss_and_diff(w, part, 1.0f);
  }
  if (outputs != nullptr) std::copy(logits.begin(), logits.end(), outputs->begin());
  return backend_.read_loss();
}

}  // namespace hpcnn::model
