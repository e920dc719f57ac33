// The training run's class, shared by the files that define its parts:
// trainer.cpp (the constructor's steps, step / epoch / run) and resume.cpp
// (the run directory's verdict, resumable checkpoints, where to start).
// Internal to train/: only trainer.hpp's train() is the interface.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "comm/communicator.hpp"
#include "comm/gradient_reducer.hpp"
#include "data/dataset.hpp"
#include "data/prefetch.hpp"
#include "timing/timing.hpp"
#include "train/buckets.hpp"
#include "train/checkpoint.hpp"
#include "train/run_dir.hpp"
#include "train/run_record.hpp"
#include "train/step_timeline.hpp"
#include "train/trainer.hpp"
#include "train/watchdog.hpp"
#include "train/weight_update.hpp"

namespace hpcnn::train {

using Clock = std::chrono::steady_clock;

/// One training run, set up once (constructor), then driven step by step
/// (step) and epoch by epoch (epoch); train() strings them together. A
/// gradient goes: backward reports each layer's finished range -> the run
/// gathers ranges into a bucket -> the reducer all-reduces it on its thread
/// while backward goes on -> wait() before the optimizer.
class TrainingRun {
 public:
  TrainingRun(const TrainConfig& c, const Logger& log, comm::Communicator& comm);
  /// Trains every epoch (or until max_steps), evaluates, writes metrics.
  TrainResult run();
  /// Records a failure in run.json (rank 0; best effort).
  void mark_failed(const std::string& why);

 private:
  struct StepOutcome {
    kernels::LossResult loss;
    int64_t samples = 0;          ///< in the global batch
    int stop_signal = 0;          ///< the signal some rank was asked to stop by (agreed by all; 0: none)
    bool checkpoint_due = false;  ///< rank 0's wall-time checkpoint interval passed (agreed by all)
  };
  StepOutcome step(int epoch, int64_t step_in_epoch, const data::EpochPlan& plan, data::Prefetcher* prefetch);
  /// Runs one epoch from step `first_step`; false when the run should not go on
  /// (max_steps reached before it started, or a stop was agreed).
  bool epoch(int epoch, int64_t first_step);
  /// Backward's hook: a layer's gradients [first, first + count) are final.
  void grads_ready(int64_t first, int64_t count);
  /// Hands the finished gradients [first, last) to the reducer.
  void start_bucket(int64_t first, int64_t last);
  // The constructor's named steps, in order (after agreeing, pre-flight, the
  // backend and the all-reduce resolved):
  /// Decides what to do with the run directory (rank 0) and tells every rank.
  void prepare_run_directory(const nlohmann::json& resolved);
  /// Every rank starts from rank 0's weights (and, resuming, its optimizer state).
  void broadcast_start();
  /// The readers, the first epoch's plan, the cache or preload, the checksums.
  void open_data();
  /// The result so far (resumed epochs), run.json, this rank's timing file.
  void open_run_record();
  /// Writes a resumable checkpoint to `path` (rank 0; the others go on).
  /// `drop_last_epoch`: the last entry of result_.epochs is the epoch in
  /// progress (cut short by --max-steps), kept out of the finished ones.
  void save_state(const std::filesystem::path& path, int epoch, int64_t steps_in_epoch, bool epoch_done,
                  const EpochProgress* progress, bool drop_last_epoch = false);
  nlohmann::json history(const EpochProgress* progress, bool drop_last_epoch = false) const;
  /// Where training starts: (1, 0), or where the resumed run stood.
  std::pair<int, int64_t> start_position() const;
  /// This rank's reading plan for `epoch` (made once per epoch, kept until the next).
  const data::EpochPlan& plan_for(int epoch);
  void mark(RunPhase phase, int64_t epoch = 0, int64_t step = 0) {
    if (watchdog_) watchdog_->mark(phase, epoch, step);
  }

  const TrainConfig& c_;
  const Logger& log_;
  comm::Communicator& comm_;
  const int world_, rank_;
  const data::Manifest manifest_;
  const bool classification_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<model::Model> net_;
  std::unique_ptr<WeightUpdate> update_;  ///< the gradient exchange and the optimizer, plain or sharded
  int64_t global_batch_ = 0;
  comm::AllreduceAlgo algo_ = comm::AllreduceAlgo::kAuto;  ///< what runs (resolved)
  double bucket_mb_ = 0.0;                                 ///< --bucket-mb, auto resolved
  std::optional<BucketAccumulator> buckets_;               ///< backward's finished ranges -> buckets for the reducer
  /// The trainable part of the flat buffers, [train_offset_, num_params()):
  /// all of it unless --freeze. Reduction ranges count from train_offset_.
  int64_t train_offset_ = 0, train_count_ = 0;
  std::unique_ptr<data::SplitReader> train_reader_;
  std::unique_ptr<data::SplitReader> val_reader_;
  std::optional<data::Augmenter> augment_;  ///< training batches only; empty when --augment is off
  int64_t n_train_ = 0, n_holdout_ = 0, steps_per_epoch_ = 0, global_step_ = 0;
  int64_t cache_bytes_ = 0;                    ///< --cache-mb
  std::optional<data::EpochPlan> epoch_plan_;  ///< the current epoch's plan
  std::optional<timing::RankTimingWriter> timer_;
  StepTimeline timeline_;  ///< the step's phases on timer_ (nothing without a run directory)
  std::optional<model::HostLayerRecorder> layer_recorder_;  ///< with --trace only: per-layer events
  data::Batch batch_;
  TrainResult result_;
  // Long jobs.
  std::unique_ptr<RunDirectory> run_dir_;  ///< rank 0, with a run directory
  std::unique_ptr<Watchdog> watchdog_;
  RunDecision decision_;                   ///< rank 0's verdict on the run directory (new run or resume), shared
  std::optional<TrainState> resume_;       ///< where the resumed run stood
  std::optional<Checkpoint> resume_ckpt_;  ///< rank 0: the checkpoint resumed from
  Clock::time_point last_checkpoint_ = Clock::now();
  int stop_signal_ = 0;  ///< agreed: stop after the current step
};

}  // namespace hpcnn::train
