// What one run's time went into: statistics over ranks and steps.
//
// Definitions (docs/formats.md, "hpcnn-merge summary"):
// - Steps used: those every loaded rank completed, after skipping the first
//   `warmup` of them (the first step also builds the kernels' primitives).
// - Phase statistics: over all (rank, step) pairs; median is the middle
//   value (mean of the two middle ones for an even count); p95 is the
//   nearest-rank 95th percentile (the ceil(0.95 n)-th smallest).
// - Step time: per step, the slowest rank's `step` seconds (everyone waits
//   for it at the all-reduce); its total is the run's training time.
// - Throughput: samples of all ranks over the steps used / total step time.
//   Unknown (NaN, "n/a") when ranks are missing: their samples are unknown.
// - Communication fraction: all-reduce seconds / step seconds, summed over
//   ranks and steps.
// - Input: bytes read from storage (the `data` rows) per rank over the
//   steps used; read throughput = bytes / that rank's step seconds (MB/s,
//   10^6 bytes), total = the sum over ranks. A step waited on data when its
//   `data` phase took over 1 ms and over 2 % of the step; the data-wait
//   fraction counts such (rank, step) pairs. Queue depth: mean of the
//   background reader's ready batches when a step took its own.
// - Load imbalance: per rank, compute = step - allreduce seconds summed over
//   the steps used (waiting for others shows up inside the all-reduce);
//   imbalance = slowest rank's compute / mean compute over ranks (1 = even).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_timings.hpp"

namespace hpcnn::merge {

struct Stats {
  int64_t count = 0;
  double mean = 0, median = 0, p95 = 0, max = 0, total = 0;
};

/// Statistics of `values` (empty gives all zeros).
Stats compute_stats(std::vector<double> values);

struct SummaryOptions {
  int64_t warmup = 1;  ///< leading common steps to leave out (kept when nothing else remains)
};

struct RunSummary {
  std::string run;                                   ///< the run directory as given
  nlohmann::json config = nlohmann::json::object();  ///< run.json's config (may be empty)
  int world_size = 0;
  int ranks_present = 0;
  std::vector<int> missing_ranks;
  int64_t steps_used = 0;
  int64_t warmup_skipped = 0;
  std::array<Stats, kNumPhases> phase{};  ///< over (rank, step)
  Stats step_time;                        ///< per step, slowest rank
  double train_seconds = 0;               ///< step_time.total
  int64_t samples = 0;                    ///< all loaded ranks, steps used
  double samples_per_second = 0;          ///< NaN when ranks are missing
  double comm_fraction = 0;               ///< allreduce (communication) time / step time
  double exposed_comm_fraction = 0;       ///< the part steps waited for (allreduce_wait) / step time
  double hidden_fraction = 0;             ///< 1 - exposed / communication: what overlapped backward (NaN: none)
  double load_imbalance = 1;
  int64_t bytes_read = 0;             ///< from storage, all loaded ranks, steps used
  std::vector<double> read_mb_per_s;  ///< per loaded rank, in rank order
  double read_mb_per_s_total = 0;     ///< sum over ranks
  double data_wait_fraction = 0;      ///< (rank, step) pairs that waited on data / all
  double mean_queue_depth = 0;        ///< 0 without a background reader
  int slowest_rank = 0;               ///< the rank with the most compute time
  /// Per rank, where its memory went (metrics.json's ranks[].memory, with
  /// "rank"): empty when the run wrote no metrics.json or no breakdown.
  nlohmann::json memory = nlohmann::json::array();
  std::vector<std::string> warnings;  ///< from loading and summarising
};

/// The memory breakdown of metrics.json (`hpcnn train`'s ranks[].memory) as
/// summarize() keeps it: one object per rank that has one, fields that are
/// not numbers left out (metrics.json is input).
nlohmann::json memory_from_metrics(const nlohmann::json& metrics);

RunSummary summarize(const RunTimings& run, const SummaryOptions& options = {});

/// A Markdown report: headline numbers, then one row per phase.
std::string summary_markdown(const RunSummary& s);
/// One row per phase plus `step_slowest`: phase,count,mean_s,median_s,p95_s,max_s,total_s.
std::string summary_csv(const RunSummary& s);
/// Format "hpcnn-merge-summary" (docs/formats.md).
nlohmann::json summary_json(const RunSummary& s);

/// All ranks' steps as one Chrome trace: one process per rank ("rank 3
/// (host)"), one thread per phase, on the shared time axis. Opens in
/// chrome://tracing and Perfetto. `layer_events` (load_layer_events in
/// layers.hpp: a traced run's per-layer events) go in as they are.
nlohmann::json merged_trace(const RunTimings& run, const std::vector<nlohmann::json>& layer_events = {});

}  // namespace hpcnn::merge
