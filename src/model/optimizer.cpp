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

void Optimizer::step(float* params, const float* grads) {
  ++steps_;
  if (config_.kind == OptimizerKind::kSgd) {
    backend_.sgd_update(params, grads, a_.get(), count_, static_cast<float>(config_.lr),
                        static_cast<float>(config_.momentum));
    return;
  }
  const double t = static_cast<double>(steps_);
  kernels::AdamStep s;
  s.lr_t =
      static_cast<float>(config_.lr * std::sqrt(1.0 - std::pow(config_.beta2, t)) / (1.0 - std::pow(config_.beta1, t)));
  s.beta1 = static_cast<float>(config_.beta1);
  s.beta2 = static_cast<float>(config_.beta2);
  s.epsilon = static_cast<float>(config_.epsilon);
  backend_.adam_update(params, grads, a_.get(), b_.get(), count_, s);
}

void Optimizer::restore(int64_t steps, std::span<const float> a, std::span<const float> b) {
  HPCNN_CHECK(steps >= 0, "bad optimizer step count ", steps);
  steps_ = steps;
  a_.from_host(a);
  if (config_.kind == OptimizerKind::kAdam) b_.from_host(b);
}

}  // namespace hpcnn::model
