// Ring all-reduce: reduce-scatter then all-gather around the ring, p-1 steps
// each. Every step's segment travels in chunks (detail::exchange: all
// receives posted first, a window of sends in flight), and each chunk is added
// as soon as it lands while later chunks are still on the wire. Segment k ends fully reduced on rank (k - 1) mod p and
// is copied from there, so all ranks hold bitwise the same sum.
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
  const detail::Pacing pace = detail::pacing(comm, right);

  // One step: send segment `send_seg` to the right while segment `recv_seg`
  // arrives from the left, chunk by chunk (detail::exchange); in the
  // reduce-scatter each chunk is added as soon as it lands.
  auto exchange = [&](int send_seg, int recv_seg, bool reduce) {
    const auto [s_first, s_last] = block_range(count, send_seg, p);
    const auto [r_first, r_last] = block_range(count, recv_seg, p);
    if (reduce) {
      detail::exchange(data + s_first, s_last - s_first, right, incoming, r_last - r_first, left, c, pace,
                       [&, r_first = r_first](int64_t off, int64_t n) {
                         detail::add_into(data + r_first + off, incoming + off, n);
                       });
    } else {  // the all-gather receives in place
      detail::exchange(data + s_first, s_last - s_first, right, data + r_first, r_last - r_first, left, c, pace, {});
    }
  };

  // Reduce-scatter: at step s, pass on segment (r - s) and fold in segment (r - s - 1).
  for (int s = 0; s < p - 1; ++s) exchange((r - s + p) % p, (r - s - 1 + 2 * p) % p, true);
  // All-gather: rank r now owns segment (r + 1) mod p; pass the finished segments around.
  for (int s = 0; s < p - 1; ++s) exchange((r + 1 - s + p) % p, (r - s + p) % p, false);
}

}  // namespace hpcnn::comm
