// The NCCL reducer in a build without NCCL: it refuses in one line.
#include "comm/gradient_reducer.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

std::unique_ptr<GradientReducer> make_nccl_reducer(Communicator&, kernels::Backend&, float*, int64_t) {
  throw UsageError("--allreduce nccl: this build has no NCCL (configure with the CUDA toolkit and NCCL)");
}

std::unique_ptr<ShardedReducer> make_nccl_sharded_reducer(Communicator&, kernels::Backend&, float*, int64_t) {
  throw UsageError("--allreduce nccl: this build has no NCCL (configure with the CUDA toolkit and NCCL)");
}

bool nccl_compiled() { return false; }

}  // namespace hpcnn::comm
