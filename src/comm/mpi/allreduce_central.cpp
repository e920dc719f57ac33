// "Central": every rank sends its gradients to rank 0, which adds them in rank
// order and sends the sum back to each rank in turn. This is the seeds'
// parameter-on-one-device strategy (TensorFlow's ReductionToOneDevice).
// Rank 0's link carries 2(p-1) full messages, so it does not scale; it is here
// as the baseline the other algorithms are measured against.
#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"

namespace hpcnn::comm {

void allreduce_central(Communicator& comm, float* data, int64_t count) {
  const int p = comm.size(), r = comm.rank();
  if (p == 1 || count == 0) return;
  const MPI_Comm c = comm.comm();
  constexpr int kUp = 21, kDown = 22;
  for (int64_t off = 0; off < count; off += detail::kChunk) {
    const int64_t n = std::min(detail::kChunk, count - off);
    if (r == 0) {
      float* incoming = comm.scratch(detail::kChunk);
      for (int from = 1; from < p; ++from) {
        detail::recv(incoming, n, from, kUp, c);
        detail::add_into(data + off, incoming, n);
      }
      for (int to = 1; to < p; ++to) detail::send(data + off, n, to, kDown, c);
    } else {
      detail::send(data + off, n, 0, kUp, c);
      detail::recv(data + off, n, 0, kDown, c);
    }
  }
}

}  // namespace hpcnn::comm
