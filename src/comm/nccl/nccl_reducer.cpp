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
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "backend.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/nccl/nccl_checks.hpp"
#include "core/check.hpp"
#include "core/error.hpp"
#include "cuda/cuda_check.hpp"

namespace hpcnn::comm {

namespace {

#define HPCNN_NCCL(call) HPCNN_CHECK_CALL(call, ncclResult_t, status == ncclSuccess, ncclGetErrorString(status))

/// Unsharded: each block all-reduced in place. Sharded (ZeRO, issue 30):
/// each block reduce-scattered by ncclReduceScatter into this rank's packed
/// shard of reduced gradients, and all_gather() gathers the updated weights
/// by ncclAllGather. NCCL cuts a block into p equal chunks (rank r owns chunk
/// r; the last ones may be short or empty), so a block whose size p does not
/// divide goes through a zero-padded copy. NCCL's reduce-scatter and
/// all-reduce need not add in the same order: the sharded NCCL path is
/// deterministic but not bitwise the unsharded one (the MPI algorithms are).
class NcclReducer final : public ShardedReducer {
 public:
  NcclReducer(Communicator& comm, kernels::Backend& backend, float* data, int64_t count, bool sharded)
      : backend_(backend), data_(data), sharded_(sharded), schedule_(count) {
    compute_ = static_cast<cudaStream_t>(backend.native_stream());
    if (compute_ == nullptr) {
      throw UsageError(std::string("--allreduce nccl: the ") + backend.name() +
                       " backend has no CUDA stream (use --backend cuda)");
    }
    // NCCL refuses two ranks on one GPU: say so before it does, by name.
    // Compared by node and PCI bus id, not device number: under srun
    // --gpus-per-task=1 every rank's GPU is its device 0 (issue 33.4).
    HPCNN_CUDA(cudaGetDevice(&device_));
    constexpr int kIdChars = 64;
    char mine[2 * kIdChars] = {};
    char name[MPI_MAX_PROCESSOR_NAME] = {};  // MPI may write this many
    int name_len = 0;
    MPI_CHECK(MPI_Get_processor_name(name, &name_len));
    std::memcpy(mine, name, static_cast<size_t>(std::min(std::max(name_len, 0), kIdChars - 1)));  // mine ends in '\0'
    HPCNN_CUDA(cudaDeviceGetPCIBusId(mine + kIdChars, kIdChars, device_));
    std::vector<char> all(static_cast<size_t>(comm.size()) * sizeof mine);
    MPI_CHECK(MPI_Allgather(mine, sizeof mine, MPI_CHAR, all.data(), sizeof mine, MPI_CHAR, comm.comm()));
    std::vector<GpuIdentity> ids;
    for (int r = 0; r < comm.size(); ++r) {
      const char* at = all.data() + static_cast<size_t>(r) * sizeof mine;
      ids.push_back({std::string(at), std::string(at + kIdChars)});
    }
    if (const auto shared = ranks_sharing_a_gpu(ids)) {
      throw UsageError("--allreduce nccl: ranks " + std::to_string(shared->first) + " and " +
                       std::to_string(shared->second) + " share the GPU at PCI " +
                       ids[static_cast<size_t>(shared->first)].pci_bus_id + " on " +
                       ids[static_cast<size_t>(shared->first)].node +
                       ", which NCCL refuses: run one rank per GPU (or --allreduce ring for the staged path)");
    }
    ncclUniqueId id;
    if (comm.rank() == 0) HPCNN_NCCL(ncclGetUniqueId(&id));
    MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm.comm()));
    HPCNN_NCCL(ncclCommInitRank(&nccl_, comm.size(), id, comm.rank()));
    rank_ = comm.rank();
    ranks_ = comm.size();
    // A constructor that throws runs no destructor: release what was made (issue 33.8).
    try {
      if (sharded_) plan_shards();
      HPCNN_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      HPCNN_CUDA(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
      HPCNN_CUDA(cudaEventCreate(&first_));
      HPCNN_CUDA(cudaEventCreate(&done_));
      HPCNN_CUDA(cudaEventCreateWithFlags(&untimed_, cudaEventDisableTiming));
    } catch (...) {
      release();
      throw;
    }
  }

  ~NcclReducer() override { release(); }

  void start(int64_t offset, int64_t count) override {
    // In the one issue order every rank follows (BlockSchedule, issue 33.5).
    for (const int64_t b : schedule_.cover(offset, count)) {
      launch(schedule_.block_start(b), schedule_.block_end(b) - schedule_.block_start(b));
    }
  }

  ReduceStats wait() override {
    HPCNN_CHECK(schedule_.complete(), "nccl reducer: wait() before every gradient was started (", schedule_.missing(),
                " of ", schedule_.num_blocks(), " blocks missing)");
    // A peer that failed leaves this rank's collectives waiting forever; NCCL
    // reports that (and network errors) asynchronously, so ask once a step and
    // turn it into an error here (ProcessGroupNCCL's watchdog polls the same).
    ncclResult_t async = ncclSuccess;
    HPCNN_NCCL(ncclCommGetAsyncError(nccl_, &async));
    HPCNN_CHECK(async == ncclSuccess || async == ncclInProgress, "nccl reducer: the communicator failed (",
                ncclGetErrorString(async), "; ", ncclGetLastError(nccl_), ")");
    ReduceStats stats = pending_;
    // The GPU time of the previous step's reductions, read only once its
    // closing event has completed (issue 33.1: asking earlier returned
    // cudaErrorNotReady and left it as the last error, which the next launch
    // check threw). This step's would need a host synchronisation.
    stats.busy_s = timer_.poll(
        [this] {
          const cudaError_t q = cudaEventQuery(done_);
          return q == cudaSuccess ? EventState::kComplete
                                  : (q == cudaErrorNotReady ? EventState::kNotReady : EventState::kFailed);
        },
        [this] {
          float ms = 0.0f;
          HPCNN_CUDA(cudaEventElapsedTime(&ms, first_, done_));
          return ms;
        },
        [] {
          if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
        });
    if (stats.blocks > 0) {
      // Only when the last reading is taken: re-recording done_ (or first_)
      // before then would measure a mix of two steps.
      const bool measure = step_timed_;
      HPCNN_CUDA(cudaEventRecord(measure ? done_ : untimed_, stream_));
      HPCNN_CUDA(cudaStreamWaitEvent(compute_, measure ? done_ : untimed_, 0));  // the optimizer runs after the sums
      if (measure) timer_.armed();
    }
    schedule_.reset();
    pending_ = {};
    return stats;
  }

  AllreduceAlgo algo() const override { return AllreduceAlgo::kNccl; }
  const char* kind() const override { return sharded_ ? "nccl-sharded" : "nccl"; }

  const std::vector<Range>& slices() const override { return slices_; }
  int64_t shard_count() const override { return shard_count_; }
  const float* shard_gradients() const override { return shard_grads_; }
  const std::vector<int64_t>& shard_gradient_offsets() const override { return packed_at_; }

  /// Orders the gathers after the optimizer's kernels on the compute stream
  /// and the compute stream after the gathers: no host synchronisation.
  void all_gather(float* params) override {
    HPCNN_CHECK(sharded_, "nccl reducer: all_gather() on a reducer made unsharded");
    HPCNN_CUDA(cudaEventRecord(ready_, compute_));
    HPCNN_CUDA(cudaStreamWaitEvent(stream_, ready_, 0));
    for (int64_t b = schedule_.num_blocks() - 1; b >= 0; --b) {  // the reductions' order
      const int64_t first = schedule_.block_start(b), n = schedule_.block_end(b) - first;
      const int64_t chunk = chunk_of(n);
      const auto [lo, hi] = slices_[static_cast<size_t>(b)];
      // This rank's chunk, zero-padded to the chunk size NCCL sends.
      HPCNN_CUDA(cudaMemcpyAsync(chunk_buf_, params + lo, static_cast<size_t>(hi - lo) * sizeof(float),
                                 cudaMemcpyDeviceToDevice, stream_));
      if (hi - lo < chunk) {
        HPCNN_CUDA(cudaMemsetAsync(chunk_buf_ + (hi - lo), 0, static_cast<size_t>(chunk - (hi - lo)) * sizeof(float),
                                   stream_));
      }
      HPCNN_NCCL(ncclAllGather(chunk_buf_, padded_, static_cast<size_t>(chunk), ncclFloat, nccl_, stream_));
      HPCNN_CUDA(cudaMemcpyAsync(params + first, padded_, static_cast<size_t>(n) * sizeof(float),
                                 cudaMemcpyDeviceToDevice, stream_));
    }
    HPCNN_CUDA(cudaEventRecord(untimed_, stream_));
    HPCNN_CUDA(cudaStreamWaitEvent(compute_, untimed_, 0));
  }

 private:
  /// Teardown, each part only if made. Unwinding from an error (another
  /// rank failed, or this one), the communicator is aborted rather than
  /// destroyed: ncclCommDestroy waits for outstanding collectives that the
  /// failed peer never joins, ncclCommAbort does not (NCCL 2.28 docs).
  void release() noexcept {
    const bool unwinding = std::uncaught_exceptions() > 0;
    if (stream_ != nullptr && !unwinding) cudaStreamSynchronize(stream_);
    if (nccl_ != nullptr) unwinding ? ncclCommAbort(nccl_) : ncclCommDestroy(nccl_);
    for (cudaEvent_t e : {untimed_, done_, first_, ready_}) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (!unwinding) {  // the backend's buffers; unwinding, a kernel may still use them
      for (float* p : {shard_grads_, padded_, chunk_buf_}) {
        if (p != nullptr) backend_.release(p);
      }
    }
    shard_grads_ = padded_ = chunk_buf_ = nullptr;
    nccl_ = nullptr;
    untimed_ = done_ = first_ = ready_ = nullptr;
    stream_ = nullptr;
  }

  void launch(int64_t first, int64_t count) {
    HPCNN_CUDA(cudaEventRecord(ready_, compute_));  // the block's gradients were issued before this
    HPCNN_CUDA(cudaStreamWaitEvent(stream_, ready_, 0));
    if (pending_.blocks == 0) {
      // Timed only while no earlier pair awaits its reading (first_ belongs to it).
      step_timed_ = !timer_.is_armed();
      if (step_timed_) HPCNN_CUDA(cudaEventRecord(first_, stream_));
    }
    if (sharded_) {
      reduce_scatter_block(first, count);
    } else {
      HPCNN_NCCL(
          ncclAllReduce(data_ + first, data_ + first, static_cast<size_t>(count), ncclFloat, ncclSum, nccl_, stream_));
    }
    ++pending_.blocks;
    pending_.bytes += count * static_cast<int64_t>(sizeof(float));
  }

  /// Floats per rank NCCL's collectives move for a block of `n`.
  int64_t chunk_of(int64_t n) const { return (n + ranks_ - 1) / ranks_; }

  /// This rank's slice of every block (chunk rank_ of it) and the buffers.
  void plan_shards() {
    int64_t largest = 0;
    for (int64_t b = 0; b < schedule_.num_blocks(); ++b) {
      const int64_t first = schedule_.block_start(b), n = schedule_.block_end(b) - first;
      const int64_t chunk = chunk_of(n);
      const int64_t lo = std::min(n, rank_ * chunk), hi = std::min(n, (rank_ + 1) * chunk);
      slices_.emplace_back(first + lo, first + hi);
      block_starts_.push_back(first);
      packed_at_.push_back(shard_count_);
      shard_count_ += hi - lo;
      largest = std::max(largest, chunk);
    }
    shard_grads_ = backend_.allocate(std::max<int64_t>(shard_count_, 1));
    padded_ = backend_.allocate(std::max<int64_t>(largest * ranks_, 1));
    chunk_buf_ = backend_.allocate(std::max<int64_t>(largest, 1));
  }

  void reduce_scatter_block(int64_t first, int64_t n) {
    const int64_t chunk = chunk_of(n);
    const float* send = data_ + first;
    if (chunk * ranks_ != n) {  // zero-padded to p equal chunks
      HPCNN_CUDA(cudaMemcpyAsync(padded_, data_ + first, static_cast<size_t>(n) * sizeof(float),
                                 cudaMemcpyDeviceToDevice, stream_));
      HPCNN_CUDA(cudaMemsetAsync(padded_ + n, 0, static_cast<size_t>(chunk * ranks_ - n) * sizeof(float), stream_));
      send = padded_;
    }
    HPCNN_NCCL(ncclReduceScatter(send, chunk_buf_, static_cast<size_t>(chunk), ncclFloat, ncclSum, nccl_, stream_));
    const auto b = static_cast<size_t>(std::lower_bound(block_starts_.begin(), block_starts_.end(), first) -
                                       block_starts_.begin());
    HPCNN_CHECK(b < block_starts_.size() && block_starts_[b] == first, "nccl reducer: no block starts at ", first);
    const auto [lo, hi] = slices_[b];
    HPCNN_CUDA(cudaMemcpyAsync(shard_grads_ + packed_at_[b], chunk_buf_, static_cast<size_t>(hi - lo) * sizeof(float),
                               cudaMemcpyDeviceToDevice, stream_));
  }

  kernels::Backend& backend_;
  float* data_;
  const bool sharded_;
  int rank_ = 0, ranks_ = 1;
  std::vector<Range> slices_;
  std::vector<int64_t> block_starts_, packed_at_;  ///< per block: where it starts, where its slice is packed
  int64_t shard_count_ = 0;
  float* shard_grads_ = nullptr;  ///< the packed reduced gradients (device)
  float* padded_ = nullptr;       ///< one block padded to p chunks (device)
  float* chunk_buf_ = nullptr;    ///< one chunk (device)
  BlockSchedule schedule_;
  cudaStream_t compute_ = nullptr, stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, first_ = nullptr, done_ = nullptr;
  cudaEvent_t untimed_ = nullptr;  ///< closes a step while done_ still awaits its reading
  int device_ = 0;                 ///< the backend's GPU (current when the reducer is made)
  ncclComm_t nccl_ = nullptr;
  ReduceStats pending_;
  bool step_timed_ = false;  ///< this step recorded first_
  LaggedEventTimer timer_;   ///< busy_s: the last step whose reductions were complete when asked
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(Communicator& comm, kernels::Backend& backend, float* device_data,
                                                   int64_t count) {
  return std::make_unique<NcclReducer>(comm, backend, device_data, count, false);
}

std::unique_ptr<ShardedReducer> make_nccl_sharded_reducer(Communicator& comm, kernels::Backend& backend,
                                                          float* device_data, int64_t count) {
  return std::make_unique<NcclReducer>(comm, backend, device_data, count, true);
}

bool nccl_compiled() { return true; }

}  // namespace hpcnn::comm
