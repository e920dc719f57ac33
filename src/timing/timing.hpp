// Per-rank timing files: where each training step's time went.
//
// RUN_DIR/timing/rank-NNNNN.csv, one row per step and phase:
//   rank,epoch,step,phase,start_s,seconds,bytes,samples,queue
// bytes: on `allreduce`/`step` rows the gradient bytes exchanged, on the
// `data` row the bytes read from storage for this step's batch (0 when it
// came from memory); queue: on the `data` row, the batches the background
// reader had ready when the step took its own (0 without one).
// phases: data, forward, backward, allreduce, allreduce_wait, optimizer,
// allgather (a sharded optimizer's all-gather of the updated weights; 0 s
// without --shard-optimizer) and step (the whole step). start_s counts
// from a barrier all ranks pass just before the first step, so rows of
// different ranks line up. Each step's rows are appended with one write(2)
// call: a rank that dies mid-run leaves complete rows only.
// With a trace path the same events also go to a Chrome-trace JSON (written
// at the end, atomically), which chrome://tracing and Perfetto open, and
// with it each layer's forward and backward (record_layer; trace only).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hpcnn::timing {

/// A layer as the model summary names it, for the per-layer events of --trace.
struct LayerLabel {
  std::string name;    ///< "3 conv:64x3": 1-based index and layer string
  std::string kind;    ///< "conv"
  std::string output;  ///< output shape, "(64, 24, 24)"
};

/// allreduce: the communication thread's time reducing this step's gradients
/// (it overlaps backward); allreduce_wait: how long the step then waited for
/// it before the optimizer (the exposed part). Files written before
/// allreduce_wait existed lack that row; readers take it as 0. allgather: a
/// sharded optimizer's all-gather of the updated weights, after the optimizer
/// (0 s unsharded); files from before it (where the optimizer row includes
/// the all-gather) lack that row; readers take it as 0 too.
enum class Phase { kData, kForward, kBackward, kAllreduce, kAllreduceWait, kOptimizer, kAllgather, kStep };
inline constexpr int kNumPhases = 8;
const char* phase_name(Phase phase);
/// The inverse of phase_name(); false for any other text.
bool parse_phase(std::string_view name, Phase& phase);

/// The first line of every timing file.
inline constexpr std::string_view kCsvHeader = "rank,epoch,step,phase,start_s,seconds,bytes,samples,queue";
/// The first line of files written before the queue column (still read).
inline constexpr std::string_view kCsvHeaderV1 = "rank,epoch,step,phase,start_s,seconds,bytes,samples";
/// "rank-00003": the stem of a rank's timing/ and trace/ files.
std::string rank_file_stem(int rank);

/// Where a resumed run picks up: its timing files keep the rows up to and
/// including (epoch, step) and drop any later ones (steps the killed run took
/// after its last checkpoint, which the resumed run takes again).
struct ResumePoint {
  int64_t epoch = 0, step = 0;
};

class RankTimingWriter {
 public:
  /// Opens (creating, truncating) `csv_path` and writes the header line. With
  /// `resume`, keeps the file's rows up to that point instead and continues
  /// its clock from the last kept row's end (the trace starts afresh).
  RankTimingWriter(const std::filesystem::path& csv_path, int rank, std::filesystem::path trace_path = {},
                   std::optional<ResumePoint> resume = {});
  ~RankTimingWriter();
  RankTimingWriter(const RankTimingWriter&) = delete;
  RankTimingWriter& operator=(const RankTimingWriter&) = delete;

  /// Restarts the clock (call right after a barrier before the first step).
  void start_clock();
  /// Seconds since start_clock().
  double now() const;
  /// Buffers one row; end_step() writes the step's rows.
  void record(int64_t epoch, int64_t step, Phase phase, double start_s, double seconds, int64_t bytes, int64_t samples,
              int64_t queue = 0);
  /// Names the model's layers for record_layer() (the trace only).
  void set_layers(std::vector<LayerLabel> layers);
  /// Buffers one layer's forward (kForward) or backward (kBackward) for the
  /// trace; nothing without a trace path. The CSV has no per-layer rows.
  void record_layer(int64_t epoch, int64_t step, Phase phase, int layer, double start_s, double seconds);
  bool tracing() const { return !trace_path_.empty(); }
  void end_step();
  /// Writes the Chrome trace, when one was asked for.
  void finish();

 private:
  int fd_ = -1;
  int rank_;
  std::filesystem::path csv_path_, trace_path_;
  std::string pending_;
  std::chrono::steady_clock::time_point t0_;
  double offset_s_ = 0;  ///< added to now(): a resumed run's clock goes on from the kept rows
  struct Event {
    Phase phase;
    int64_t epoch, step;
    double start_s, seconds;
  };
  std::vector<Event> events_;
  struct LayerEvent {
    Phase phase;
    int layer;
    int64_t epoch, step;
    double start_s, seconds;
  };
  std::vector<LayerLabel> layers_;
  std::vector<LayerEvent> layer_events_;
};

}  // namespace hpcnn::timing
