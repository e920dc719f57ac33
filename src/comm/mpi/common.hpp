// Pieces shared by the point-to-point all-reduce algorithms.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <utility>

#include "comm/communicator.hpp"
#include "core/check.hpp"
#include "core/partition.hpp"

namespace hpcnn::comm::detail {

/// Floats per message piece: large enough to stream, small enough to overlap
/// the reduction of one piece with the transfer of the next.
inline constexpr int64_t kChunk = 1 << 16;  // 256 KiB

/// dst[i] += src[i]
inline void add_into(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}


inline void send(const float* p, int64_t n, int to, int tag, MPI_Comm c) {
  MPI_CHECK(MPI_Send(p, static_cast<int>(n), MPI_FLOAT, to, tag, c));
}
inline void recv(float* p, int64_t n, int from, int tag, MPI_Comm c) {
  MPI_CHECK(MPI_Recv(p, static_cast<int>(n), MPI_FLOAT, from, tag, c, MPI_STATUS_IGNORE));
}

/// Runs on the node leader with the node's sum (rank 0's shared slot piece).
using LeaderStep = std::function<void(float* node_sum, int64_t n)>;

/// The shared-memory all-reduce of a node, piece by piece; with `leader_step`
/// the leader transforms the node sum (e.g. all-reduces it between nodes)
/// before every rank copies it out. Defined in allreduce_shm.cpp.
void shm_allreduce(Communicator& comm, float* data, int64_t count, const LeaderStep& leader_step);

}  // namespace hpcnn::comm::detail
