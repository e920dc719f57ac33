// Gradients reduced by NCCL on the GPU (see make_nccl_reducer in
// comm/gradient_reducer.hpp): the same reduction blocks as the MPI reducers,
// each all-reduced on a communication stream as soon as backward has issued
// all of its gradients, ordered after them by an event on the compute stream;
// wait() orders the compute stream after the reductions, with no host sync.
// Compiled only with NCCL (the twin nccl_reducer_none.cpp refuses).
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend.hpp"
#include "comm/gradient_reducer.hpp"
#include "core/check.hpp"
#include "core/error.hpp"
#include "cuda/cuda_check.hpp"

namespace hpcnn::comm {

namespace {

#define HPCNN_NCCL(call) HPCNN_CHECK_CALL(call, ncclResult_t, status == ncclSuccess, ncclGetErrorString(status))

class NcclReducer final : public GradientReducer {
 public:
  NcclReducer(Communicator& comm, kernels::Backend& backend, float* data, int64_t count)
      : data_(data),
        count_(count),
        head_(count % kReduceBlock),
        num_blocks_(count / kReduceBlock + (count % kReduceBlock > 0 ? 1 : 0)),
        covered_(static_cast<size_t>(num_blocks_), 0) {
    compute_ = static_cast<cudaStream_t>(backend.native_stream());
    if (compute_ == nullptr) {
      throw UsageError(std::string("--allreduce nccl: the ") + backend.name() +
                       " backend has no CUDA stream (use --backend cuda)");
    }
    // NCCL refuses two ranks on one GPU: say so before it does, by name.
    int device = 0;
    HPCNN_CUDA(cudaGetDevice(&device));
    std::vector<int> devices(static_cast<size_t>(comm.size()));
    MPI_CHECK(MPI_Allgather(&device, 1, MPI_INT, devices.data(), 1, MPI_INT, comm.comm()));
    for (int r = 0; r < comm.size(); ++r) {
      if (r != comm.rank() && comm.same_node(r) && devices[static_cast<size_t>(r)] == device) {
        throw UsageError("--allreduce nccl: ranks " + std::to_string(std::min(r, comm.rank())) + " and " +
                         std::to_string(std::max(r, comm.rank())) + " share GPU " + std::to_string(device) +
                         ", which NCCL refuses: run one rank per GPU (or --allreduce ring for the staged path)");
      }
    }
    ncclUniqueId id;
    if (comm.rank() == 0) HPCNN_NCCL(ncclGetUniqueId(&id));
    MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm.comm()));
    HPCNN_NCCL(ncclCommInitRank(&nccl_, comm.size(), id, comm.rank()));
    HPCNN_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    HPCNN_CUDA(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    HPCNN_CUDA(cudaEventCreate(&first_));
    HPCNN_CUDA(cudaEventCreate(&done_));
  }

  ~NcclReducer() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(nccl_);
    cudaEventDestroy(done_);
    cudaEventDestroy(first_);
    cudaEventDestroy(ready_);
    cudaStreamDestroy(stream_);
  }

  void start(int64_t offset, int64_t count) override {
    HPCNN_CHECK(offset >= 0 && count >= 0 && offset + count <= count_, "nccl reducer: range [", offset, ", ",
                offset + count, ") outside the ", count_, " gradients");
    for (int64_t b = 0; b < num_blocks_; ++b) {
      const int64_t first = block_first(b), last = block_first(b + 1);
      const int64_t overlap = std::min(last, offset + count) - std::max(first, offset);
      if (overlap <= 0) continue;
      int64_t& covered = covered_[static_cast<size_t>(b)];
      covered += overlap;
      HPCNN_CHECK(covered <= last - first, "nccl reducer: gradients [", first, ", ", last, ") started twice");
      if (covered == last - first) launch(first, last - first);
    }
  }

  ReduceStats wait() override {
    for (int64_t b = 0; b < num_blocks_; ++b) {
      HPCNN_CHECK(covered_[static_cast<size_t>(b)] == block_first(b + 1) - block_first(b),
                  "nccl reducer: wait() before every gradient was started (block ", b, ")");
    }
    ReduceStats stats = pending_;
    // The time the previous step's reductions took on the GPU: reading this
    // step's would need a host synchronisation, which is what this avoids.
    stats.busy_s = last_busy_s_;
    if (stats.blocks > 0) {
      HPCNN_CUDA(cudaEventRecord(done_, stream_));
      HPCNN_CUDA(cudaStreamWaitEvent(compute_, done_, 0));  // the optimizer runs after the sums
      float ms = 0.0f;
      if (cudaEventElapsedTime(&ms, first_, done_) == cudaSuccess) last_busy_s_ = ms / 1e3;
    }
    std::fill(covered_.begin(), covered_.end(), 0);
    pending_ = {};
    return stats;
  }

  AllreduceAlgo algo() const override { return AllreduceAlgo::kNccl; }
  const char* kind() const override { return "nccl"; }

 private:
  /// Blocks are aligned to the buffer's end, the short one first (as the MPI reducers').
  int64_t block_first(int64_t b) const {
    if (b >= num_blocks_) return count_;
    if (head_ == 0) return b * kReduceBlock;
    return b == 0 ? 0 : head_ + (b - 1) * kReduceBlock;
  }

  void launch(int64_t first, int64_t count) {
    HPCNN_CUDA(cudaEventRecord(ready_, compute_));  // the block's gradients were issued before this
    HPCNN_CUDA(cudaStreamWaitEvent(stream_, ready_, 0));
    if (pending_.blocks == 0) HPCNN_CUDA(cudaEventRecord(first_, stream_));
    HPCNN_NCCL(
        ncclAllReduce(data_ + first, data_ + first, static_cast<size_t>(count), ncclFloat, ncclSum, nccl_, stream_));
    ++pending_.blocks;
    pending_.bytes += count * static_cast<int64_t>(sizeof(float));
  }

  float* data_;
  int64_t count_, head_, num_blocks_;
  std::vector<int64_t> covered_;
  cudaStream_t compute_ = nullptr, stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, first_ = nullptr, done_ = nullptr;
  ncclComm_t nccl_ = nullptr;
  ReduceStats pending_;
  double last_busy_s_ = 0.0;
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(Communicator& comm, kernels::Backend& backend, float* device_data,
                                                   int64_t count) {
  return std::make_unique<NcclReducer>(comm, backend, device_data, count);
}

bool nccl_compiled() { return true; }

}  // namespace hpcnn::comm
