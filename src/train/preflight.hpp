// Pre-flight checks: everything about a run that can be refused before the
// run directory is claimed, a checkpoint written or any collective but the
// ranks' agreement started. Every rank runs them on the same (agreed)
// inputs and so reaches the same verdict; the checks of the disk run on
// rank 0, which hands its verdict on. A --validation-split that leaves no
// training samples used to be refused only after the run directory was
// claimed and the weights broadcast; a bad --freeze and an unwritable
// --checkpoint after it was claimed, leaving a run directory behind.
#pragma once

#include <cstdint>
#include <filesystem>

#include "model/model_spec.hpp"
#include "train/trainer.hpp"

namespace hpcnn::comm {
class Communicator;
}
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
/// step, --freeze names a layer and leaves parameters to train, and periodic
/// checkpoints have a run directory. Reads the dataset directory's listing
/// only; writes nothing.
void preflight_checks(const TrainConfig& c, const data::Manifest& manifest, const model::ModelSpec& spec,
                      model::LossKind loss, int world);

/// Rank 0's checks of where the run writes (a run with a run directory):
/// --checkpoint may go where it points, the run directory is absent or holds
/// nothing hpcnn did not write, and --checkpoint and RUN_DIR/metrics.json can
/// be written (check_writable). Every rank calls it: rank 0 checks, the
/// others learn its verdict and throw "rank 0 stopped: ..." with it. Run
/// before the run directory is claimed; writes no more than check_writable.
void check_outputs(const TrainConfig& c, comm::Communicator& comm);

/// Fails now, not after training, when `path` cannot be written (creates its
/// directory and probes with a temporary file; removes both again).
void check_writable(const std::filesystem::path& path, const char* what);

}  // namespace hpcnn::train
