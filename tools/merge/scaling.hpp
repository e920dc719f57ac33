// Scaling studies: several runs of the same model on different rank counts.
//
// Strong scaling keeps the global batch fixed (each rank gets a smaller
// slice); weak scaling keeps the per-rank batch fixed (the global batch grows
// with the ranks). In both, against the run with the fewest ranks p0:
//   speed-up   S(p) = throughput(p) / throughput(p0)
//   efficiency E(p) = S(p) / (p / p0)
// For weak scaling S is the scaled speed-up and E equals
// step_time(p0) / step_time(p). Runs that do not match the mode (different
// model, or a global batch / per-rank batch that changes) give warnings.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "summary.hpp"

namespace hpcnn::merge {

enum class ScalingMode { kStrong, kWeak };
const char* scaling_mode_name(ScalingMode mode);

struct ScalingPoint {
  std::string run;
  std::string model;
  int ranks = 0;
  int64_t batch = 0;         ///< per rank (run.json config.batch; strong: global / ranks)
  int64_t global_batch = 0;  ///< run.json config.global_batch
  double step_seconds = 0;   ///< mean slowest-rank step time
  double samples_per_second = 0;
  double speedup = 0;
  double efficiency = 0;
  double comm_fraction = 0;
  double load_imbalance = 1;
  std::array<double, kNumPhases> phase_mean{};  ///< mean seconds per (rank, step), by phase
};

struct ScalingStudy {
  ScalingMode mode = ScalingMode::kStrong;
  std::vector<ScalingPoint> points;  ///< by rank count
  std::vector<std::string> warnings;
};

/// Throws hpcnn::Error when fewer than one run is usable or a run has no throughput.
ScalingStudy scaling_study(const std::vector<RunSummary>& runs, ScalingMode mode);

std::string scaling_markdown(const ScalingStudy& study);
std::string scaling_csv(const ScalingStudy& study);
/// Format "hpcnn-merge-scaling" (docs/formats.md); tools/plot reads it.
nlohmann::json scaling_json(const ScalingStudy& study);

}  // namespace hpcnn::merge
