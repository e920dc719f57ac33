// Pre-flight checks: everything about a run that can be refused before the
// run directory is claimed, a checkpoint written or any collective but the
// ranks' agreement started. Every rank runs them on the same (agreed)
// inputs and so reaches the same verdict. A --validation-split that leaves
// no training samples used to be refused only after the run directory was
// claimed and the weights broadcast.
#pragma once

#include <cstdint>
#include <filesystem>

#include "model/model_spec.hpp"
#include "train/trainer.hpp"

namespace hpcnn::data {
struct Manifest;
}

namespace hpcnn::train {

/// The training split as the run uses it: the first `train` samples train,
/// the last `holdout` validate (--validation-split, when the dataset has no
/// validation split of its own).
struct TrainSplit {
  int64_t train = 0, holdout = 0;
};
TrainSplit train_split(const TrainConfig& c, const data::Manifest& manifest);

/// Throws (UsageError or Error, naming the option) unless the run can start:
/// the shards are present, the model fits the dataset's task, --allreduce
/// nccl has a GPU backend, every rank gets a training sample and a sample per
/// step, and periodic checkpoints have a run directory. Reads the dataset
/// directory's listing only; writes nothing.
void preflight_checks(const TrainConfig& c, const data::Manifest& manifest, const model::ModelSpec& spec,
                      model::LossKind loss, int world);

/// Fails now, not after training, when `path` cannot be written (creates its
/// directory and probes with a temporary file: run after the run directory
/// is claimed).
void check_writable(const std::filesystem::path& path, const char* what);

}  // namespace hpcnn::train
