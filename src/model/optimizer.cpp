// Adam with Keras's bias correction folded into the learning rate; SGD with momentum.
#include "model/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"

namespace hpcnn::model {

OptimizerKind parse_optimizer(const std::string& text) {
  if (text == "adam") return OptimizerKind::kAdam;
  if (text == "sgd") return OptimizerKind::kSgd;
  throw UsageError("unknown optimizer '" + text + "' (expected adam or sgd)");
}

const char* optimizer_name(OptimizerKind kind) { return kind == OptimizerKind::kAdam ? "adam" : "sgd"; }

Optimizer::Optimizer(const OptimizerConfig& config, kernels::Backend& backend, int64_t num_params)
    : config_(config), backend_(backend), count_(num_params), a_(backend, num_params) {
  if (config_.kind == OptimizerKind::kAdam) b_ = DeviceBuffer(backend, num_params);
}

kernels::AdamStep Optimizer::next_adam_step() {
  ++steps_;
  const double t = static_cast<double>(steps_);
  kernels::AdamStep s;
  s.lr_t =
      static_cast<float>(config_.lr * std::sqrt(1.0 - std::pow(config_.beta2, t)) / (1.0 - std::pow(config_.beta1, t)));
  s.beta1 = static_cast<float>(config_.beta1);
  s.beta2 = static_cast<float>(config_.beta2);
  s.epsilon = static_cast<float>(config_.epsilon);
  return s;
}

void Optimizer::step(float* params, const float* grads) {
  const kernels::AdamStep s = next_adam_step();
  if (config_.kind == OptimizerKind::kSgd) {
    backend_.sgd_update(params, grads, a_.get(), count_, static_cast<float>(config_.lr),
                        static_cast<float>(config_.momentum));
    return;
  }
  backend_.adam_update(params, grads, a_.get(), b_.get(), count_, s);
}

void Optimizer::step_slices(float* params, const float* grads, std::span<const int64_t> grad_offsets,
                            std::span<const std::pair<int64_t, int64_t>> slices,
                            const std::function<void(size_t)>& slice_done) {
  HPCNN_CHECK(grad_offsets.size() == slices.size(), "optimizer: ", grad_offsets.size(), " gradient offsets for ",
              slices.size(), " slices");
  int64_t total = 0;
  for (size_t i = 0; i < slices.size(); ++i) {
    const auto [first, last] = slices[i];
    HPCNN_CHECK(first >= 0 && last >= first, "optimizer: bad parameter slice [", first, ", ", last, ")");
    HPCNN_CHECK(grad_offsets[i] >= 0, "optimizer: negative gradient offset ", grad_offsets[i]);
    total += last - first;
  }
  HPCNN_CHECK(total == count_, "optimizer: slices of ", total, " parameters for state of ", count_);
  const kernels::AdamStep s = next_adam_step();
  int64_t packed = 0;  // where the slice sits in the packed state
  for (size_t i = 0; i < slices.size(); ++i) {
    const auto [first, last] = slices[i];
    const int64_t n = last - first;
    const float* g = grads + grad_offsets[i];
    if (n > 0 && config_.kind == OptimizerKind::kSgd) {
      backend_.sgd_update(params + first, g, a_.get() + packed, n, static_cast<float>(config_.lr),
                          static_cast<float>(config_.momentum));
    } else if (n > 0) {
      backend_.adam_update(params + first, g, a_.get() + packed, b_.get() + packed, n, s);
    }
    packed += n;
    if (slice_done) slice_done(i);
  }
}

void Optimizer::restore(int64_t steps, std::span<const float> a, std::span<const float> b) {
  HPCNN_CHECK(steps >= 0, "bad optimizer step count ", steps);
  steps_ = steps;
  a_.from_host(a);
  if (config_.kind == OptimizerKind::kAdam) b_.from_host(b);
}

}  // namespace hpcnn::model
