// Optimizers over the flat parameter buffer: one backend call per step.
//
// Defaults are Keras's: Adam lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7
// (Keras 2; the Adam paper's 1e-8 via --adam-epsilon). Adam's state (m, v)
// and the step count are part of a checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "model/model.hpp"

namespace hpcnn::model {

enum class OptimizerKind { kAdam, kSgd };
OptimizerKind parse_optimizer(const std::string& text);  ///< "adam" | "sgd"; UsageError otherwise
const char* optimizer_name(OptimizerKind kind);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdam;
  double lr = 0.001;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7;  ///< Adam
  double momentum = 0.0;                              ///< SGD
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, kernels::Backend& backend, int64_t num_params);
  /// Applies one update to `params` from `grads` (both flat, device memory).
  void step(float* params, const float* grads);
  /// A sharded optimizer's step (ZeRO stage 1-2, issue 30): this optimizer
  /// holds state for the parameters of `slices` only ([first, last) of the
  /// flat buffer, whose counts sum to num_params), packed one after another
  /// in the order given. Updates those parameters of `params` (the whole flat
  /// buffer) from slice i's gradients at `grads` + `grad_offsets`[i] (the
  /// slices' own offsets when `grads` is a whole gradient buffer holding the
  /// reduced sums where the reduce-scatter left them; packed offsets for a
  /// packed buffer), element by element with the arithmetic of step():
  /// bitwise what step() over the whole buffer gives them. `slice_done`, when
  /// given, is called with each slice's index (empty slices too) as soon as
  /// that slice is updated, in order: the sharded all-gather starts on a
  /// block while the next ones are updated (issue 30, train/weight_update.cpp).
  void step_slices(float* params, const float* grads, std::span<const int64_t> grad_offsets,
                   std::span<const std::pair<int64_t, int64_t>> slices,
                   const std::function<void(size_t)>& slice_done = {});
  const OptimizerConfig& config() const { return config_; }
  int64_t steps() const { return steps_; }

  /// State for checkpoints: step count and the moment buffers (m, v or velocity).
  std::vector<float> state_a() const { return a_.to_host(); }
  std::vector<float> state_b() const { return b_.to_host(); }
  /// The same in place, in the backend's memory (host memory on a CPU backend): no copy for a checkpoint.
  std::span<const float> state_a_in_place() const { return {a_.get(), static_cast<size_t>(a_.count())}; }
  std::span<const float> state_b_in_place() const { return {b_.get(), static_cast<size_t>(b_.count())}; }
  void restore(int64_t steps, std::span<const float> a, std::span<const float> b);

 private:
  /// Counts the step and returns Adam's step constants for it.
  kernels::AdamStep next_adam_step();

  OptimizerConfig config_;
  kernels::Backend& backend_;
  int64_t count_;
  int64_t steps_ = 0;
  DeviceBuffer a_;  ///< Adam m, SGD velocity
  DeviceBuffer b_;  ///< Adam v (empty for SGD)
};

}  // namespace hpcnn::model
