// The NCCL reducer's host-side decisions, kept free of CUDA and NCCL so the
// CPU-only unit tests can check them (tests/unit/test_cuda_logic.cpp):
// when the GPU time of the reductions may be read, and whether two ranks
// drive the same physical GPU.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hpcnn::comm {

/// What cudaEventQuery said about the event that closes a step's reductions.
enum class EventState { kComplete, kNotReady, kFailed };

/// The GPU time of the reductions, read one step late and only once they are
/// complete. cudaEventElapsedTime on an event that has not completed returns
/// cudaErrorNotReady; main 9f91d3b called it right after recording the event
/// and ignored the result, which CUDA left as the thread's last error, so the
/// next launch check (after the optimizer's kernel) threw "device not ready"
/// on every rank of every NCCL run (issue 33.1). Here the elapsed time is
/// asked for only after the query says the event is complete; a NotReady
/// query keeps the previous value and asks the caller to clear the error.
class LaggedEventTimer {
 public:
  /// Called in wait() before the closing event is recorded again.
  /// `query()` -> EventState; `elapsed_ms()` -> float (only called when
  /// complete); `clear_not_ready()` is called after a kNotReady query.
  /// Returns the busy seconds to report (the last complete measurement).
  template <class Query, class Elapsed, class Clear>
  double poll(Query&& query, Elapsed&& elapsed_ms, Clear&& clear_not_ready) {
    if (!armed_) return last_s_;
    switch (query()) {
      case EventState::kComplete:
        last_s_ = static_cast<double>(elapsed_ms()) / 1e3;
        armed_ = false;
        break;
      case EventState::kNotReady:
        clear_not_ready();  // keep the previous value; the event is re-recorded this step
        break;
      case EventState::kFailed: armed_ = false; break;
    }
    return last_s_;
  }
  /// The pair of events was recorded for this step.
  void armed() { armed_ = true; }
  bool is_armed() const { return armed_; }

 private:
  bool armed_ = false;
  double last_s_ = 0.0;
};

/// One rank's GPU as NCCL sees it: the node and the device's PCI bus id
/// (cudaDeviceGetPCIBusId, "0000:3b:00.0"), unique on a node whatever
/// CUDA_VISIBLE_DEVICES or srun --gpu-bind renumbered. Comparing device
/// numbers instead (main 9f91d3b) refused every srun --gpus-per-task=1 job,
/// where each rank sees its own GPU as device 0 (issue 33.4).
struct GpuIdentity {
  std::string node;
  std::string pci_bus_id;
};

/// The first pair of ranks (lower first) that drive the same GPU, if any.
/// Bus ids are compared case-insensitively (CUDA prints hex in upper case,
/// nvidia-smi in lower).
inline std::optional<std::pair<int, int>> ranks_sharing_a_gpu(const std::vector<GpuIdentity>& ranks) {
  const auto lower = [](std::string s) {
    for (char& ch : s) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    return s;
  };
  for (size_t a = 0; a < ranks.size(); ++a) {
    for (size_t b = a + 1; b < ranks.size(); ++b) {
      if (ranks[a].node == ranks[b].node && !ranks[a].pci_bus_id.empty() &&
          lower(ranks[a].pci_bus_id) == lower(ranks[b].pci_bus_id)) {
        return std::make_pair(static_cast<int>(a), static_cast<int>(b));
      }
    }
  }
  return std::nullopt;
}

}  // namespace hpcnn::comm
