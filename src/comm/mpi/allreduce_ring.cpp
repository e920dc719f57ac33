// Ring all-reduce: reduce-scatter then all-gather around the ring, p-1 steps
// each. Every step's segment travels in chunks: all receives are posted
// first, and each chunk is added as soon as it lands while later chunks are
// still on the wire. Segment k ends fully reduced on rank (k - 1) mod p and is
// copied from there, so all ranks hold bitwise the same sum.
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"

namespace hpcnn::comm {

void allreduce_ring(Communicator& comm, float* data, int64_t count) {
  const int p = comm.size(), r = comm.rank();
  if (p == 1 || count == 0) return;
  const MPI_Comm c = comm.comm();
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  const int64_t max_segment = block_range(count, 0, p).second;
  float* incoming = comm.scratch(max_segment);
  std::vector<MPI_Request> recvs, sends;

  auto exchange = [&](int send_seg, int recv_seg, bool reduce) {
    const auto [s_first, s_last] = block_range(count, send_seg, p);
    const auto [r_first, r_last] = block_range(count, recv_seg, p);
    float* dst = reduce ? incoming : data + r_first;  // all-gather receives in place
    const int64_t r_len = r_last - r_first, s_len = s_last - s_first;
    recvs.assign(static_cast<size_t>((r_len + detail::kChunk - 1) / detail::kChunk), MPI_REQUEST_NULL);
    sends.assign(static_cast<size_t>((s_len + detail::kChunk - 1) / detail::kChunk), MPI_REQUEST_NULL);
    for (size_t k = 0; k < recvs.size(); ++k) {
      const int64_t off = static_cast<int64_t>(k) * detail::kChunk;
      MPI_CHECK(MPI_Irecv(dst + off, static_cast<int>(std::min(detail::kChunk, r_len - off)), MPI_FLOAT, left,
                          static_cast<int>(k), c, &recvs[k]));
    }
    for (size_t k = 0; k < sends.size(); ++k) {
      const int64_t off = static_cast<int64_t>(k) * detail::kChunk;
      MPI_CHECK(MPI_Isend(data + s_first + off, static_cast<int>(std::min(detail::kChunk, s_len - off)), MPI_FLOAT,
                          right, static_cast<int>(k), c, &sends[k]));
    }
    // Chunks are added in order, each as soon as it has arrived.
    for (size_t k = 0; k < recvs.size(); ++k) {
      MPI_CHECK(MPI_Wait(&recvs[k], MPI_STATUS_IGNORE));
      if (reduce) {
        const int64_t off = static_cast<int64_t>(k) * detail::kChunk;
        detail::add_into(data + r_first + off, incoming + off, std::min(detail::kChunk, r_len - off));
      }
    }
    MPI_CHECK(MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE));
  };

  // Reduce-scatter: at step s, pass on segment (r - s) and fold in segment (r - s - 1).
  for (int s = 0; s < p - 1; ++s) exchange((r - s + p) % p, (r - s - 1 + 2 * p) % p, true);
  // All-gather: rank r now owns segment (r + 1) mod p; pass the finished segments around.
  for (int s = 0; s < p - 1; ++s) exchange((r + 1 - s + p) % p, (r - s + p) % p, false);
}

}  // namespace hpcnn::comm
