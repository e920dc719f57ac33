// Training and evaluation loops, synchronous data parallel over MPI ranks.
//
// One epoch: the seeded permutation of the training indices (the same on
// every rank) is cut into global batches (the last may be smaller, as in
// Keras). Rank r of p takes its contiguous slice of each global batch, runs
// forward/backward with the loss scaled by 1 / global batch, and the chosen
// all-reduce sums the gradients: the sum is the mean gradient of the global
// batch, so every rank applies the same optimizer step. Because dropout masks
// are keyed by global sample index, p ranks compute the same step as one rank
// (up to summation order). Validation and test are split over ranks too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend.hpp"
#include "comm/allreduce.hpp"
#include "comm/reduce_scatter.hpp"
#include "core/log.hpp"
#include "data/augment.hpp"
#include "data/sampling.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"

namespace hpcnn::data {
class SplitReader;
struct Manifest;
}  // namespace hpcnn::data
namespace hpcnn::comm {
class Communicator;
}

namespace hpcnn::train {

inline constexpr double kAutoBucketMb = 1.0;

struct TrainConfig {
  std::filesystem::path data_dir = "datasets/fashion-mnist";
  std::string model = "keras-cnn";
  int epochs = 1;
  int64_t batch = 128;       ///< per-rank batch (weak scaling) unless global_batch is set
  int64_t global_batch = 0;  ///< > 0: strong scaling, this many samples per step over all ranks
  comm::AllreduceAlgo allreduce = comm::AllreduceAlgo::kAuto;  ///< resolved once per run (see comm/)
  bool compute_only = false;  ///< measurement: skip the gradient exchange (ranks then train apart)
  /// Start reducing once this many MB of gradients are final (0: after
  /// backward; < 0: auto, kAutoBucketMb when the ranks span several nodes,
  /// else 0: inside one node the shared-memory reduction competes with
  /// backward for the same cores, measured 4.5 % slower on keras-cnn, 2 ranks).
  double bucket_mb = -1.0;
  /// ZeRO stages 1-2 (train/weight_update.hpp): gradients reduce-scattered,
  /// each rank's optimizer state and reduced gradients for its slices only,
  /// weights all-gathered. Bitwise the unsharded run (ring, rhd, hier).
  bool shard_optimizer = false;
  /// Gradient messages in bf16 (comm/reduce_scatter.hpp): changes results.
  comm::GradCompression grad_compression = comm::GradCompression::kNone;
  model::OptimizerConfig optimizer;
  uint64_t seed = 42;
  int threads = 0;  ///< 0: the runtime's default
  kernels::BackendKind backend = kernels::BackendKind::kOnednn;
  kernels::Precision precision = kernels::Precision::kFp32;  ///< the convolutions' arithmetic
  int gpu = -1;                                              ///< cuda: the device (-1: node-local rank % visible GPUs)
  bool allow_tf32 = false;                                   ///< cuda: TF32 tensor cores in cuDNN and cuBLAS
  double validation_split = 0.0;  ///< hold out the last fraction of train when the dataset has no validation split
  int64_t max_steps = 0;          ///< stop after this many steps in total (0: run all epochs)
  int64_t eval_batch = 500;
  bool evaluate_test = true;
  /// How the ranks divide an epoch's samples (data/sampling.hpp): global
  /// (rank-count independent) or local (each rank its own shards).
  data::SamplingMode sampling = data::SamplingMode::kGlobal;
  int shuffle_window = 4;  ///< local sampling: blocks of kBlockRows samples shuffled together
  /// Training images transformed afresh each epoch, keyed by (seed, epoch,
  /// sample): data/augment.hpp. Off by default.
  data::AugmentSpec augment;
  /// Memory for training data per rank: the rank's shards are preloaded when
  /// they fit, else read through a cache of this size (local: whole blocks).
  int64_t cache_mb = 4096;
  int prefetch = 2;                  ///< batches read ahead on a background thread (0: read inside the step)
  std::filesystem::path run_dir;     ///< run.json and timing/ go here when set
  bool trace = false;                ///< also write RUN_DIR/trace/rank-N.json (Chrome trace)
  std::filesystem::path checkpoint;  ///< written after every epoch when set
  std::filesystem::path metrics;     ///< JSON written at the end when set
  double progress_seconds = 2.0;

  // Transfer learning (model/model.hpp set_frozen_layers).
  /// Start from this checkpoint's parameters for the leading layers whose
  /// kind and shapes match (see init_until); the rest start fresh.
  std::filesystem::path init_from;
  /// With init_from: copy layers 1..this (a number or an @NAME); empty:
  /// every leading layer that matches.
  std::string init_until;
  /// Freeze layers 1..this (a number or an @NAME): no gradient, no optimizer
  /// state, no all-reduce for them, their batch norms in inference mode.
  std::string freeze;

  // Long jobs: resumable checkpoints, preemption, the watchdog (see
  // run_dir.hpp, preemption.hpp, watchdog.hpp). None of these change results.
  int64_t checkpoint_every_steps = 0;        ///< a resumable checkpoint every this many steps (0: off)
  double checkpoint_every_seconds = 1800.0;  ///< ... and after this much wall time since the last (0: off)
  int keep_checkpoints = 3;                  ///< periodic checkpoints kept in RUN_DIR/checkpoints/
  double timeout_s = 600.0;                  ///< watchdog: no progress for this long ends the job (0: off)
  bool resume = false;                       ///< the run directory must hold a run to continue
  bool force = false;                        ///< replace a run found in the run directory
  bool restart_from_scratch = false;         ///< step 0 although the run's checkpoints are all invalid
  /// Check every shard's SHA-256 against the manifest before training:
  /// auto does it when the training data is preloaded (it is read whole anyway).
  enum class VerifyData { kAuto, kAlways, kNever } verify_data = VerifyData::kAuto;

  /// Every option that can change the results (not paths of outputs, not
  /// logging): what run.json and metrics.json record as the configuration and
  /// what the ranks must agree on before training. Generated from the options
  /// table (train/train_options.hpp): the rows with a run.json key.
  nlohmann::json to_json() const;
};

struct EvalMetrics {
  int64_t samples = 0;
  double loss = 0.0;     ///< mean per-sample loss (cross-entropy or MSE)
  double accuracy = -1;  ///< classification only (-1 otherwise)
  double seconds = 0.0;
  nlohmann::json to_json() const;
};

struct EpochMetrics {
  int epoch = 0;
  int64_t steps = 0;
  int64_t samples = 0;
  double loss = 0.0, accuracy = -1;
  double seconds = 0.0;  ///< training steps only (no evaluation)
  double samples_per_second = 0.0;
  std::optional<EvalMetrics> validation;
  nlohmann::json to_json() const;
};

struct TrainResult {
  std::string model;
  int64_t params = 0;
  int world_size = 1;
  int64_t global_batch = 0;
  std::string allreduce;            ///< the algorithm that ran
  double bucket_mb = 0;             ///< --bucket-mb as resolved
  std::vector<double> step_losses;  ///< mean loss of each global batch, in order
  std::vector<EpochMetrics> epochs;
  std::optional<EvalMetrics> test;
  double train_seconds = 0.0;
  double samples_per_second = 0.0;  ///< over all training steps
  int64_t global_steps = 0;         ///< optimizer steps taken, resumed ones included
  int64_t resumed_from_step = -1;   ///< the checkpoint's step when this run resumed one (-1: it did not)
  int preempted_by = 0;             ///< the signal that stopped the run early (0: it ran to the end)
  /// Per rank, at the end: peak resident memory (VmHWM) and the bytes its
  /// read calls returned (/proc/self/io rchar: HDF5's real reads, page cache
  /// hits included) and fetched from storage (read_bytes).
  nlohmann::json ranks = nlohmann::json::array();
  /// GPU backends: rank 0's host<->device bytes and calls per training step
  /// (Backend::transfers); null on CPU backends.
  nlohmann::json device_transfers;
  nlohmann::json to_json(const TrainConfig& config) const;
};

/// The configuration as run (run.json's and metrics.json's "config"):
/// to_json() with what the run resolved (the world size, the global batch,
/// the all-reduce that ran instead of `auto`, the bucket size).
nlohmann::json resolved_config(const TrainConfig& c, int world, int64_t global_batch, const std::string& allreduce,
                               double bucket_mb);

/// The option (as on the command line, "--lr") whose value in `current`
/// differs from `recorded`, both resolved configurations; "" when a run with
/// `recorded` may be resumed with `current` (the epochs, --max-steps, threads,
/// all-reduce, buckets and rank count may change; the global batch may not:
/// named as --batch when `current` has "global_batch_requested": 0, i.e. the
/// per-rank batch decided it).
std::string resume_mismatch(const nlohmann::json& recorded, const nlohmann::json& current);

/// Throws unless a model with this output and loss suits `manifest`'s task
/// (classification: one output per class; regression: one per target).
/// `who` names the model in the message ("model 'keras-cnn'", "checkpoint m.h5").
void check_model_fits(const model::ModelSpec& spec, model::LossKind loss, const data::Manifest& manifest,
                      const std::string& who);

/// Mean loss / accuracy of `model` over samples [first, first + count) of
/// `reader`; with `comm`, each rank evaluates its block and the sums are combined.
/// `on_batch`, when set, is called after every batch (the watchdog's progress).
EvalMetrics evaluate(model::Model& model, data::SplitReader& reader, int64_t first, int64_t count, int64_t batch,
                     comm::Communicator* comm = nullptr, const std::function<void()>& on_batch = {});

/// Trains on the ranks of `comm` (one rank: this process alone). Every rank
/// returns the same result; only rank 0 writes files (each rank writes its
/// own timing and heartbeat file). With a run directory: takes its lock,
/// resumes an unfinished run found there, checkpoints periodically, stops
/// cleanly on SIGUSR1/SIGTERM (result.preempted_by) and is watched by the
/// watchdog (exit kWatchdogExitCode when a rank stalls).
TrainResult train(const TrainConfig& config, const Logger& log, comm::Communicator& comm);

}  // namespace hpcnn::train
