// The run record: what a run writes about itself and reads back. run.json
// (what ran, where, with what: run_manifest), metrics.json (TrainResult::
// to_json), the configuration as run (resolved_config) and the training
// state a resumable checkpoint carries (epochs so far, the epoch in
// progress), each with its one serialisation. Formats: docs/formats.md.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "backend.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace hpcnn::data {
struct Manifest;
}
namespace hpcnn::comm {
class Communicator;
}

namespace hpcnn::train {

/// "2026-12-05T18:00:00+0000": local time, for run.json.
std::string now_text();

/// RUN_DIR/run.json's contents: what ran, where and with what (every rank
/// takes part: the host names are gathered; only rank 0's result is whole).
nlohmann::json run_manifest(const TrainConfig& c, comm::Communicator& comm, int64_t global_batch,
                            comm::AllreduceAlgo algo, double bucket_mb, const kernels::Backend& backend);

/// Rebuilds the metrics of a finished epoch from its JSON (a checkpoint's history).
EvalMetrics eval_from_json(const nlohmann::json& j);
EpochMetrics epoch_from_json(const nlohmann::json& j);

/// A resumable checkpoint's training state, as JSON (the ranks hand it on).
nlohmann::json state_to_json(const TrainState& s);
TrainState state_from_json(const nlohmann::json& j);

/// The dataset's identity for resuming: its manifest (names, shapes, shard hashes).
std::string dataset_digest(const data::Manifest& m);

/// This process's peak resident memory and read volume, from /proc (Linux).
nlohmann::json process_resources(int rank);

/// The sums of an epoch in progress (what a mid-epoch checkpoint carries).
struct EpochProgress {
  double loss_sum = 0;
  int64_t correct = 0, samples = 0, steps = 0;
  double seconds = 0;  ///< training time of this epoch so far
  nlohmann::json to_json() const {
    return {{"loss_sum", loss_sum}, {"correct", correct}, {"samples", samples}, {"steps", steps}, {"seconds", seconds}};
  }
  static EpochProgress from_json(const nlohmann::json& j) {
    EpochProgress p;
    p.loss_sum = j.value("loss_sum", 0.0);
    p.correct = j.value("correct", int64_t{0});
    p.samples = j.value("samples", int64_t{0});
    p.steps = j.value("steps", int64_t{0});
    p.seconds = j.value("seconds", 0.0);
    return p;
  }
};

}  // namespace hpcnn::train
