// Reading a training run directory's per-rank timing files.
//
// RUN_DIR/run.json says how many ranks ran; RUN_DIR/timing/rank-NNNNN.csv
// holds one row per step and phase (docs/formats.md). Files from real runs
// can be damaged: a rank killed mid-write leaves a cut-off last line, a rank
// that never started leaves no file. Loading never throws for those: it keeps
// every complete step, drops the rest, and says what it dropped in
// `warnings`, naming the file. Only a directory with no usable timing at all
// is an error.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "timing/timing.hpp"

namespace hpcnn::merge {

using timing::kNumPhases;
using timing::Phase;

/// The largest world size believed from run.json or a rank file's name
/// (docs/formats.md); beyond it the rank count comes from the files found.
inline constexpr int kMaxWorldSize = 1 << 20;

/// One complete step of one rank: all six phases present.
struct StepRecord {
  int64_t epoch = 0;
  int64_t step = 0;
  std::array<double, kNumPhases> start{};    ///< start_s per phase
  std::array<double, kNumPhases> seconds{};  ///< duration per phase
  int64_t bytes = 0;                         ///< from the `step` row
  int64_t samples = 0;                       ///< from the `step` row
  int64_t data_bytes = 0;                    ///< from the `data` row: read from storage for this batch
  int64_t queue = 0;                         ///< from the `data` row: batches ready (0: no background reader)
  bool has_wait = false;                     ///< an allreduce_wait row arrived (newer files)
  /// Communication the step waited for: allreduce_wait, or the whole
  /// allreduce in files from before overlapping (it blocked the step then).
  double exposed_comm() const {
    return has_wait ? seconds[static_cast<size_t>(Phase::kAllreduceWait)]
                    : seconds[static_cast<size_t>(Phase::kAllreduce)];
  }
};

struct RankTimings {
  int rank = 0;
  std::string file;               ///< "timing/rank-00003.csv", for messages
  std::string host;               ///< from run.json's hosts, when known
  std::vector<StepRecord> steps;  ///< in file order
};

struct RunTimings {
  std::filesystem::path dir;
  nlohmann::json run = nlohmann::json::object();  ///< run.json, or {} when absent/unreadable
  int world_size = 0;                             ///< run.json's world_size, else highest rank found + 1
  std::vector<RankTimings> ranks;                 ///< ranks with a readable file, by rank
  std::vector<int> missing_ranks;                 ///< ranks in [0, world_size) without a readable file
  std::vector<std::string> warnings;
};

/// Parses one rank file's text. Keeps complete steps (all six phases);
/// drops a cut-off last line, malformed rows, rows of another rank and
/// incomplete steps, each with a warning naming `file`.
RankTimings parse_rank_csv(std::string_view text, int rank, const std::string& file,
                           std::vector<std::string>& warnings);

/// Loads RUN_DIR (run.json and timing/rank-*.csv). Throws hpcnn::Error when
/// the directory has no timing/ folder or no rank file with a complete step.
RunTimings load_run(const std::filesystem::path& dir);

}  // namespace hpcnn::merge
