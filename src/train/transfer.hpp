// Transfer learning: --init-from starts the leading layers that match (the
// same layer, names aside, on the same input) from a checkpoint's weights;
// --init-until asks for layers 1..N and fails if one does not match.
#pragma once

#include "core/log.hpp"
#include "model/model.hpp"
#include "train/trainer.hpp"

namespace hpcnn::train {

/// Copies c.init_from's parameters of the matching leading layers into `net`
/// (rank 0; the broadcast of the weights hands them on) and logs what it took.
void init_from_checkpoint(model::Model& net, const TrainConfig& c, const Logger& log);

}  // namespace hpcnn::train
