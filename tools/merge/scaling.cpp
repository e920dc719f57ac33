// Speed-up and efficiency over rank counts (definitions in scaling.hpp).
#include "scaling.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/error.hpp"
#include "report.hpp"

namespace hpcnn::merge {

const char* scaling_mode_name(ScalingMode mode) { return mode == ScalingMode::kStrong ? "strong" : "weak"; }

ScalingStudy scaling_study(const std::vector<RunSummary>& runs, ScalingMode mode) {
  HPCNN_CHECK(!runs.empty(), "a scaling study needs at least one run");
  ScalingStudy study;
  study.mode = mode;
  for (const RunSummary& r : runs) {
    HPCNN_CHECK(std::isfinite(r.samples_per_second) && r.samples_per_second > 0, r.run,
                ": no throughput (ranks missing or no steps), so it cannot be placed in a scaling study");
    for (const std::string& w : r.warnings) study.warnings.push_back(cat(r.run, ": ", w));
    ScalingPoint p;
    p.run = r.run;
    p.model = r.config.contains("model") && r.config["model"].is_string() ? r.config["model"].get<std::string>() : "";
    p.ranks = r.world_size;
    p.global_batch = r.config.contains("global_batch") && r.config["global_batch"].is_number_integer()
                         ? r.config["global_batch"].get<int64_t>()
                         : 0;
    p.batch = p.ranks > 0 ? p.global_batch / p.ranks : 0;
    p.step_seconds = r.step_time.mean;
    p.samples_per_second = r.samples_per_second;
    p.comm_fraction = r.comm_fraction;
    p.load_imbalance = r.load_imbalance;
    for (int k = 0; k < kNumPhases; ++k) p.phase_mean[k] = r.phase[k].mean;
    study.points.push_back(p);
  }
  std::stable_sort(study.points.begin(), study.points.end(),
                   [](const ScalingPoint& a, const ScalingPoint& b) { return a.ranks < b.ranks; });
  const ScalingPoint& base = study.points.front();
  for (size_t i = 1; i < study.points.size(); ++i) {
    const ScalingPoint& p = study.points[i];
    if (p.ranks == study.points[i - 1].ranks) {
      study.warnings.push_back(cat(p.run, " and ", study.points[i - 1].run, " both ran on ", p.ranks, " ranks"));
    }
    if (p.model != base.model) {
      study.warnings.push_back(cat(p.run, ": model ", p.model, " differs from the baseline's ", base.model));
    }
    if (mode == ScalingMode::kStrong && p.global_batch != base.global_batch) {
      study.warnings.push_back(cat(p.run, ": global batch ", p.global_batch, " differs from the baseline's ",
                                   base.global_batch, " (strong scaling keeps it fixed: use --global-batch)"));
    }
    if (mode == ScalingMode::kWeak && p.batch != base.batch) {
      study.warnings.push_back(cat(p.run, ": per-rank batch ", p.batch, " differs from the baseline's ", base.batch,
                                   " (weak scaling keeps it fixed: use --batch)"));
    }
  }
  for (ScalingPoint& p : study.points) {
    p.speedup = p.samples_per_second / base.samples_per_second;
    p.efficiency = p.speedup / (static_cast<double>(p.ranks) / static_cast<double>(base.ranks));
  }
  return study;
}

std::string scaling_markdown(const ScalingStudy& study) {
  std::ostringstream os;
  const bool strong = study.mode == ScalingMode::kStrong;
  os << "## " << (strong ? "Strong" : "Weak") << " scaling";
  if (!study.points.empty()) os << ": " << study.points.front().model;
  os << "\n\n"
     << "| ranks | batch/rank | global batch | step ms (mean) | samples/s | "
     << (strong ? "speed-up" : "scaled speed-up") << " | efficiency | comm % | imbalance |\n"
     << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const ScalingPoint& p : study.points) {
    os << "| " << p.ranks << " | " << p.batch << " | " << p.global_batch << " | " << fixed(p.step_seconds * 1e3, 2)
       << " | " << fixed(p.samples_per_second, 1) << " | " << fixed(p.speedup, 3) << " | " << fixed(p.efficiency, 3)
       << " | " << fixed(100 * p.comm_fraction, 1) << " | " << fixed(p.load_imbalance, 3) << " |\n";
  }
  os << "\nMean seconds per step and rank, by phase (ms):\n\n| ranks |";
  for (int k = 0; k < kNumPhases; ++k) os << " " << timing::phase_name(static_cast<Phase>(k)) << " |";
  os << "\n| ---: |";
  for (int k = 0; k < kNumPhases; ++k) os << " ---: |";
  os << "\n";
  for (const ScalingPoint& p : study.points) {
    os << "| " << p.ranks << " |";
    for (int k = 0; k < kNumPhases; ++k) os << " " << fixed(p.phase_mean[k] * 1e3, 2) << " |";
    os << "\n";
  }
  os << warnings_markdown(study.warnings);
  return os.str();
}

std::string scaling_csv(const ScalingStudy& study) {
  std::ostringstream os;
  os << std::setprecision(9) << "mode,run,model,ranks,batch,global_batch,step_s,samples_per_second,speedup,efficiency,"
     << "comm_fraction,load_imbalance";
  for (int k = 0; k < kNumPhases; ++k) os << "," << timing::phase_name(static_cast<Phase>(k)) << "_s";
  os << "\n";
  for (const ScalingPoint& p : study.points) {
    os << scaling_mode_name(study.mode) << ',' << p.run << ',' << p.model << ',' << p.ranks << ',' << p.batch << ','
       << p.global_batch << ',' << p.step_seconds << ',' << p.samples_per_second << ',' << p.speedup << ','
       << p.efficiency << ',' << p.comm_fraction << ',' << p.load_imbalance;
    for (int k = 0; k < kNumPhases; ++k) os << ',' << p.phase_mean[k];
    os << '\n';
  }
  return os.str();
}

nlohmann::json scaling_json(const ScalingStudy& study) {
  nlohmann::json points = nlohmann::json::array();
  for (const ScalingPoint& p : study.points) {
    nlohmann::json phases = nlohmann::json::object();
    for (int k = 0; k < kNumPhases; ++k) phases[timing::phase_name(static_cast<Phase>(k))] = p.phase_mean[k];
    points.push_back({{"run", p.run},
                      {"model", p.model},
                      {"ranks", p.ranks},
                      {"batch", p.batch},
                      {"global_batch", p.global_batch},
                      {"step_s", p.step_seconds},
                      {"samples_per_second", p.samples_per_second},
                      {"speedup", p.speedup},
                      {"efficiency", p.efficiency},
                      {"comm_fraction", p.comm_fraction},
                      {"load_imbalance", p.load_imbalance},
                      {"phase_mean_s", phases}});
  }
  return {{"format", "hpcnn-merge-scaling"},
          {"version", 1},
          {"mode", scaling_mode_name(study.mode)},
          {"points", points},
          {"warnings", study.warnings}};
}

}  // namespace hpcnn::merge
