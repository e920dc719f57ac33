// Hierarchical all-reduce: shared memory inside each node, then the node
// leaders all-reduce the node sums between nodes (ring for large messages,
// recursive halving-doubling for small ones), then every rank copies the
// result out of the node's shared window. Inter-node traffic is that of a
// ring over nodes rather than over all ranks.
#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"

namespace hpcnn::comm {

void allreduce_hier(Communicator& comm, float* data, int64_t count) {
  if (comm.size() == 1 || count == 0) return;
  detail::shm_allreduce(comm, data, count, [&comm](float* node_sum, int64_t n) {
    Communicator* leaders = comm.leaders();
    if (leaders == nullptr || leaders->size() == 1) return;
    if (n * static_cast<int64_t>(sizeof(float)) >= (int64_t{256} << 10)) {
      allreduce_ring(*leaders, node_sum, n);
    } else {
      allreduce_rhd(*leaders, node_sum, n);
    }
  });
}

}  // namespace hpcnn::comm
