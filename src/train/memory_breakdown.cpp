// A rank's memory by part (see memory_breakdown.hpp).
#include "train/memory_breakdown.hpp"

#include <cmath>
#include <cstdint>

namespace hpcnn::train {

nlohmann::json memory_breakdown(const model::Model& net, int64_t batch, const WeightUpdate& update,
                                const comm::Communicator& comm, const nlohmann::json& resources) {
  constexpr auto kFloat = static_cast<int64_t>(sizeof(float));
  int64_t per_sample = net.spec().input.size();
  for (const model::ResolvedLayer& l : net.spec().layers) per_sample += 2 * l.output.size();
  const bool gpu = net.backend().device() == kernels::DeviceKind::kGpu;
  nlohmann::json m{
      {"weights_bytes", net.num_params() * kFloat},
      {"gradients_bytes", net.num_params() * kFloat + update.reduced_gradient_bytes()},
      {"optimizer_state_bytes", update.optimizer_state_bytes()},
      {"activations_bytes", per_sample * batch * kFloat},
      {"communication_bytes", update.staging_bytes() + comm.buffer_bytes()},
      {"checkpoint_bytes", update.checkpoint_bytes()},
      {"device", gpu ? "gpu" : "cpu"},
  };
  const double peak_mb = resources.value("peak_rss_mb", 0.0);
  const auto peak = static_cast<int64_t>(std::llround(peak_mb * 1024.0 * 1024.0));
  m["peak_rss_bytes"] = peak;
  if (gpu) {
    m["other_bytes"] = nullptr;
  } else {
    int64_t parts = 0;
    for (const char* k : {"weights_bytes", "gradients_bytes", "optimizer_state_bytes", "activations_bytes"})
      parts += m[k].get<int64_t>();
    m["other_bytes"] = peak - parts - m["communication_bytes"].get<int64_t>() - m["checkpoint_bytes"].get<int64_t>();
  }
  return m;
}

}  // namespace hpcnn::train
