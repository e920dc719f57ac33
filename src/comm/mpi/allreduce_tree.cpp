// Pipelined binary-tree all-reduce: rank i's children are 2i+1 and 2i+2.
// Data flows up in chunks (each rank adds its children's chunk, in child
// order, and passes it on) and the finished sum flows back down the same
// tree. While the root is adding chunk k, the leaves already send chunk k+1,
// so for large messages the tree depth costs only a few chunks of latency.
#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"

namespace hpcnn::comm {

void allreduce_tree(Communicator& comm, float* data, int64_t count) {
  const int p = comm.size(), r = comm.rank();
  if (p == 1 || count == 0) return;
  const MPI_Comm c = comm.comm();
  const int parent = r == 0 ? -1 : (r - 1) / 2;
  const int children[2] = {2 * r + 1, 2 * r + 2};
  float* incoming = comm.scratch(detail::kChunk);
  constexpr int kUp = 1, kDown = 2;
  for (int64_t off = 0; off < count; off += detail::kChunk) {
    const int64_t n = std::min(detail::kChunk, count - off);
    for (int child : children) {
      if (child >= p) continue;
      detail::recv(incoming, n, child, kUp, c);
      detail::add_into(data + off, incoming, n);
    }
    if (parent >= 0) detail::send(data + off, n, parent, kUp, c);
  }
  for (int64_t off = 0; off < count; off += detail::kChunk) {
    const int64_t n = std::min(detail::kChunk, count - off);
    if (parent >= 0) detail::recv(data + off, n, parent, kDown, c);
    for (int child : children) {
      if (child < p) detail::send(data + off, n, child, kDown, c);
    }
  }
}

}  // namespace hpcnn::comm
