// What hpcnn-sim's driver sets in sim_support.cpp.
#pragma once

namespace hpcnn::sim {

/// hpcnn-sim's --pacing: true (block, the default) makes detail::exchange
/// wait across nodes in MPI_Waitany, false (poll) keeps its tests and sleeps.
void set_block_remote_waits(bool block);

}  // namespace hpcnn::sim
