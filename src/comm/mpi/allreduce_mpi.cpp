// The MPI library's own MPI_Allreduce (in pieces below INT_MAX elements):
// the baseline every other algorithm is compared with.
#include <climits>

#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"

namespace hpcnn::comm {

void allreduce_mpi(Communicator& comm, float* data, int64_t count) {
  if (comm.size() == 1 || count == 0) return;
  constexpr int64_t kMax = INT_MAX / 2;
  for (int64_t off = 0; off < count; off += kMax) {
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + off, static_cast<int>(std::min(kMax, count - off)), MPI_FLOAT, MPI_SUM,
                            comm.comm()));
  }
}

}  // namespace hpcnn::comm
