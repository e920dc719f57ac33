// Where a rank's memory goes (issue 30): the parts the trainer knows the size
// of, beside the process's peak resident set. metrics.json's ranks[].memory
// (docs/formats.md); hpcnn-merge summary shows it.
#pragma once

#include <nlohmann/json.hpp>

#include "comm/communicator.hpp"
#include "model/model.hpp"
#include "train/weight_update.hpp"

namespace hpcnn::train {

/// This rank's memory in bytes, by part:
///  weights_bytes          the flat parameter buffer (every rank holds all of it)
///  gradients_bytes        backward's local gradient buffer, plus the packed
///                         reduced slices a sharded run keeps beside it on a
///                         GPU backend (stage 2; on the host they are packed
///                         inside the gradient buffer)
///  optimizer_state_bytes  Adam's m and v (SGD: velocity): of this rank's
///                         slices only when sharded, so about full / ranks
///  activations_bytes      a training batch of `batch` samples: the input and
///                         every layer's output and its gradient (what the
///                         model's plan allocates at most; evaluation's
///                         forward-only batches are not counted)
///  communication_bytes    the all-reduces' scratch and shared-window slot,
///                         the staging block of a GPU run
///  checkpoint_bytes       host memory rank 0 holds only while writing a
///                         checkpoint (WeightUpdate::checkpoint_bytes: one
///                         1 MiB window of the gathered state when sharded;
///                         0 elsewhere on a CPU backend, which writes in place)
///  peak_rss_bytes         VmHWM; other_bytes = peak_rss_bytes minus the parts
///                         above on a CPU backend (libraries, training data,
///                         kernel workspaces, allocator slack; may be negative
///                         when a part was freed before the peak) and null on a
///                         GPU backend, whose parts live in device memory
///  device                 "cpu" or "gpu": where the parts live
nlohmann::json memory_breakdown(const model::Model& net, int64_t batch, const WeightUpdate& update,
                                const comm::Communicator& comm, const nlohmann::json& resources);

}  // namespace hpcnn::train
