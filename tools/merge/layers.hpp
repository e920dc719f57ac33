// Per-layer events of a run traced with `hpcnn train --trace`.
//
// Each rank's RUN_DIR/trace/rank-NNNNN.json holds, beside the phase events,
// one "X" event per layer per step for the forward and one for the backward
// ("cat": "layer", docs/formats.md). hpcnn-merge summary copies them into the
// merged trace and writes layers.csv / layers.md: per rank and layer, the
// median forward and backward milliseconds over the steps used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_timings.hpp"

namespace hpcnn::merge {

/// The layer events of each loaded rank's trace file, for the steps that rank
/// completed in its timing file. A rank without a trace file contributes none
/// (the run was not traced); an unreadable one gets a warning naming it.
std::vector<nlohmann::json> load_layer_events(const RunTimings& run, std::vector<std::string>& warnings);

struct LayerRow {
  int rank = 0;
  int layer = 0;  ///< 1-based, as in hpcnn summary
  std::string name, kind, output;
  int64_t steps = 0;  ///< steps the medians are over
  double forward_ms = 0, backward_ms = 0;
};

/// Per rank and layer, medians over that rank's steps after its first `warmup`
/// (kept when nothing else remains); ordered by rank, then layer.
std::vector<LayerRow> layer_summary(const std::vector<nlohmann::json>& events, int64_t warmup);

/// rank,layer,name,kind,output,steps,forward_ms_median,backward_ms_median
std::string layers_csv(const std::vector<LayerRow>& rows);
/// One Markdown table per rank.
std::string layers_markdown(const std::vector<LayerRow>& rows, const std::string& run);

}  // namespace hpcnn::merge
