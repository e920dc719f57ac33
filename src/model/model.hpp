// A model replica on one backend.
//
// All parameters live in one flat device buffer and all gradients in another
// of the same layout (layer by layer: weights, then bias), so an all-reduce is
// one call, a checkpoint is one dataset and the optimizer is one loop. Layers
// hold offsets into those buffers. Activations and the prepared backend ops
// are made per batch size and reused.
//
// Dropout masks are keyed by (seed, epoch, layer, global sample index): the
// same sample gets the same mask whether it is processed by rank 0 of 1 or
// rank 3 of 4, which is what makes p ranks x B/p samples equal 1 rank x B.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "backend.hpp"
#include "core/cache_chunk.hpp"
#include "model/model_spec.hpp"

namespace hpcnn::data {
struct Batch;
}

namespace hpcnn::model {

enum class LossKind { kSoftmaxCrossEntropy, kMeanSquaredError };
const char* loss_name(LossKind loss);

/// Where one layer's parameters sit in the flat buffers: weights, bias,
/// then state (contiguous, in that order; see ResolvedLayer).
struct ParamView {
  int layer = 0;               ///< index into ModelSpec::layers
  int64_t weights_offset = 0;  ///< weights: (OC, IC / groups, KH, KW) for conv, (OUT, IN) for dense, gamma for bn
  int64_t weights_count = 0;
  int64_t bias_offset = 0;  ///< bias, or beta for bn
  int64_t bias_count = 0;
  int64_t state_offset = 0;  ///< bn: running mean (C) then running variance (C)
  int64_t state_count = 0;
};

/// Owns a device buffer of `count` floats on `backend`.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(kernels::Backend& backend, int64_t count);
  /// Uses `count` floats at `storage` (owned by someone else, who outlives this buffer).
  static DeviceBuffer borrow(kernels::Backend& backend, float* storage, int64_t count);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  float* get() const { return ptr_; }
  int64_t count() const { return count_; }
  std::vector<float> to_host() const;
  void from_host(std::span<const float> values);

 private:
  kernels::Backend* backend_ = nullptr;
  float* ptr_ = nullptr;
  int64_t count_ = 0;
  bool owned_ = true;
};

/// Throws hpcnn::Error naming the batch size and the memory needed when a
/// batch of `n` samples of `spec` (input, activations, gradients, masks)
/// overflows or would not fit in this machine's memory. Model checks it before
/// building a workspace; callers that fill a batch first check it before that.
void require_batch_fits(const ModelSpec& spec, int64_t n);

/// Times train_step layer by layer for `hpcnn train --trace`. The model calls
/// pass_begin() when a pass starts, then begin() before each layer's kernels
/// are issued and end() after them; when and how to read a clock is the
/// recorder's business. HostLayerRecorder (below) synchronises the backend and
/// reads the host's steady clock; a GPU backend's recorder would instead
/// record device events on its stream at each call and resolve them in take(),
/// after the step, without a synchronisation per layer. Without a recorder the
/// model times nothing extra.
class LayerRecorder {
 public:
  enum class Pass { kForward, kBackward };
  /// One layer's pass; `start_s` counts from its pass's pass_begin().
  struct Span {
    Pass pass = Pass::kForward;
    int layer = 0;  ///< index into ModelSpec::layers
    double start_s = 0.0, seconds = 0.0;
  };
  virtual ~LayerRecorder() = default;
  virtual void pass_begin(Pass pass) = 0;
  virtual void begin(Pass pass, int layer) = 0;
  virtual void end(Pass pass, int layer) = 0;
  /// The spans recorded since the last take(), in call order; clears them.
  virtual std::vector<Span> take() = 0;
};

/// Host clocks: end() waits for the backend, so a span covers the layer's
/// work. Every span lies within [0, its pass's length as StepTimes reports
/// it], because the model starts its own pass clock before pass_begin() and
/// stops it after the pass's last end().
class HostLayerRecorder final : public LayerRecorder {
 public:
  explicit HostLayerRecorder(kernels::Backend& backend) : backend_(backend) {}
  void pass_begin(Pass pass) override;
  void begin(Pass pass, int layer) override;
  void end(Pass pass, int layer) override;
  std::vector<Span> take() override;

 private:
  kernels::Backend& backend_;
  std::chrono::steady_clock::time_point pass_start_[2]{}, layer_start_{};
  std::vector<Span> spans_;
};

class Model {
 public:
  /// Builds the replica and initialises parameters as Keras does
  /// (Glorot-uniform weights keyed by (seed, layer), zero biases).
  /// `grads_storage`, when given, holds the gradient buffer (spec.total_params()
  /// floats, outliving the model): the trainer passes a node-shared window so
  /// the shared-memory all-reduce works in place.
  Model(ModelSpec spec, LossKind loss, kernels::Backend& backend, uint64_t seed, float* grads_storage = nullptr);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelSpec& spec() const { return spec_; }
  LossKind loss() const { return loss_; }
  kernels::Backend& backend() const { return backend_; }
  int64_t num_params() const { return params_.count(); }
  float* params() const { return params_.get(); }
  float* grads() const { return grads_.get(); }
  const std::vector<ParamView>& param_views() const { return views_; }
  std::vector<float> params_host() const { return params_.to_host(); }
  void set_params_host(std::span<const float> values) { params_.from_host(values); }
  std::vector<float> grads_host() const { return grads_.to_host(); }

  /// Forward, loss and backward for one batch; gradients are overwritten with
  /// loss_scale * d(sum of per-sample losses)/d(params). Use 1 / global batch
  /// size for the mean loss. Dropout is on, its masks keyed by `epoch` and
  /// the batch's global sample indices.
  /// Seconds spent in forward (with the loss) and backward by one train_step.
  struct StepTimes {
    double forward_s = 0.0, backward_s = 0.0;
  };
  /// Called during backward each time a layer's gradients are final, with
  /// their range [first, first + count) of the flat gradient buffer. Backward
  /// runs last layer first, so the ranges arrive tail first and together
  /// cover the buffer. On a device backend the gradient kernels are issued,
  /// not necessarily finished.
  using GradsReadyFn = std::function<void(int64_t first, int64_t count)>;
  /// `recorder`, when given, is told each layer's forward and backward (see
  /// LayerRecorder); the trainer passes one with --trace only.
  kernels::LossResult train_step(const data::Batch& batch, float loss_scale, int64_t epoch, StepTimes* times = nullptr,
                                 const GradsReadyFn& on_grads_ready = {}, LayerRecorder* recorder = nullptr);

  /// Per-layer wall time, accumulated while profiling is on (it synchronises
  /// the backend after every layer, so leave it off for throughput runs).
  struct LayerTime {
    double forward_s = 0.0, backward_s = 0.0;
  };
  void set_profiling(bool on) { profiling_ = on; }
  const std::vector<LayerTime>& layer_times() const { return layer_times_; }
  void reset_layer_times() { layer_times_.assign(spec_.layers.size() + 1, {}); }

  /// Transfer learning: the first `count` layers are frozen. They get no
  /// gradient (backward stops at the first trainable layer), their batch
  /// norms normalise with their running statistics (Keras's inference mode
  /// for non-trainable BatchNormalization), and the trainer reduces and
  /// optimises only [trainable_offset(), num_params()) of the flat buffers.
  void set_frozen_layers(size_t count);
  size_t frozen_layers() const { return frozen_; }
  /// The first parameter of the first trainable layer (num_params() when all are frozen).
  int64_t trainable_offset() const;

  /// Forward only (dropout off): summed loss and correct predictions.
  /// `outputs` receives the last layer's output (N, out) when non-null. A
  /// batch larger than the evaluation chunk runs in chunks (see set_eval_chunk).
  kernels::LossResult evaluate(const data::Batch& batch, std::vector<float>* outputs = nullptr);
  /// At most `samples` samples per forward pass of evaluate(); 0 (the
  /// default): eval_chunk_size's rule.
  void set_eval_chunk(int64_t samples) { eval_chunk_ = samples; }
  /// Samples per forward pass of evaluate() for a batch of `n`: set_eval_chunk's
  /// count where set; otherwise, on a CPU backend, the cache rule the inference
  /// engine uses too (core/cache_chunk.hpp: the largest op's input and output
  /// in the threads' L2 caches, counting the layers the engine's folded graph
  /// keeps; HPCNN_INFER_CHUNK overrides it), and on every
  /// backend at most as many as keep the pass's buffers within 1 GiB.
  int64_t eval_chunk_size(int64_t n) const;
  /// How evaluate() runs a batch of `n`: eval_chunk_size's chunks one at a
  /// time, each op on all the backend's threads, or (a CPU backend, a batch
  /// of at least as many one-thread chunks as threads: chunk_schedule in
  /// core/cache_chunk.hpp) one chunk per thread. set_eval_chunk: one at a time.
  ChunkSchedule eval_schedule(int64_t n) const;

 private:
  struct Workspace;
  Workspace& workspace_for(int64_t n);
  void forward(Workspace& ws, const data::Batch& batch, bool training, int64_t epoch,
               LayerRecorder* recorder = nullptr);
  /// Queues the loss and its gradient; the backend keeps the loss until read_loss().
  void loss_and_diff(Workspace& ws, const data::Batch& batch, float scale);
  /// evaluate() one chunk per thread (eval_schedule's slots > 1).
  kernels::LossResult evaluate_slots(const data::Batch& batch, const ChunkSchedule& plan, std::vector<float>* outputs);
  /// Slot `slot`'s workspace for `n` samples (made on the calling thread's OpenMP team).
  Workspace& eval_slot_workspace(size_t slot, int64_t n);

  ModelSpec spec_;
  LossKind loss_;
  kernels::Backend& backend_;
  uint64_t seed_;
  DeviceBuffer params_;
  DeviceBuffer grads_;
  std::vector<ParamView> views_;  ///< one per layer (zero counts for parameter-free layers)
  size_t frozen_ = 0;             ///< leading layers that get no gradient (set_frozen_layers)
  int64_t eval_chunk_ = 0;        ///< set_eval_chunk
  std::map<int64_t, std::unique_ptr<Workspace>> workspaces_;
  /// evaluate_slots: per thread, its workspaces by batch size.
  std::vector<std::map<int64_t, std::unique_ptr<Workspace>>> eval_slots_;
  bool profiling_ = false;
  std::vector<LayerTime> layer_times_;  ///< per layer, then the loss
};

/// A dropout layer's counter-based mask parameters for one epoch
/// (kernels/common/maths.hpp): the layer key is
/// derive_key({seed, "DROP", epoch, layer}).
kernels::DropoutParams dropout_params(uint64_t seed, int64_t epoch, int layer, double rate);
/// Dropout keep-mask for one sample: 1/(1-rate) where kept, 0 where dropped
/// (what Backend::dropout_forward multiplies by; for tests and inspection).
void dropout_mask(uint64_t seed, int64_t epoch, int layer, int64_t sample_index, double rate, std::span<float> mask);

}  // namespace hpcnn::model
