// Gradient exchange as an object: built once per run from the communicator,
// the algorithm and where the gradients live, then fed ranges of the flat
// gradient buffer as backward finishes them.
//
// Backward runs from the last layer to the first and parameters are laid out
// layer by layer, so finished gradients form a growing tail of the buffer.
// The trainer calls start() for each newly finished range while backward goes
// on, and wait() before the optimizer. The reductions run on a communication
// thread, so they overlap with the rest of backward (llm.c's event hand-off,
// DDP's buckets, gloo's setup/run split).
//
// Bitwise reproducibility. The buffer is cut into fixed *reduction blocks* of
// kReduceBlock floats, aligned to its end (the first one shorter: backward
// finishes the start of the buffer last). A block is
// all-reduced, as one call of the chosen algorithm, as soon as started ranges
// cover all of it. Every element is therefore always reduced in the same call
// with the same neighbours, whatever the ranges were: bucketed and unbucketed
// runs give bitwise the same sums, for every algorithm, including the MPI
// library's own (whose internal order depends on the message size).
//
// Blocks are issued in one fixed order on every rank, from the last block to
// the first, whatever ranges start() was given (BlockSchedule): NCCL and the
// MPI algorithms pair calls by their order, and a rank with no samples in a
// step starts the whole buffer at once while the others start it tail first
// in buckets (issue 33.5: main 9f91d3b issued blocks as they became ready,
// ascending within a range, which paired different blocks across ranks). `auto` is resolved once, at construction, for
// the block size, and algo() says what runs.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/communicator.hpp"
#include "comm/reduce_scatter.hpp"

namespace hpcnn::kernels {
class Backend;
}

namespace hpcnn::comm {

class ShardedReducer;

/// Floats per reduction block: 256 Ki (1 MiB). Large enough that a block is
/// bandwidth-bound on every algorithm (the ring moves 256 KiB chunks), small
/// enough that a layer's gradients make several blocks (keras-cnn's 4.8 MB:
/// five, four of which are ready before the convolutions' backward runs).
inline constexpr int64_t kReduceBlock = int64_t{1} << 18;

/// The reduction blocks of a buffer of `count` floats and the order they are
/// issued in: a block is issued once it is wholly covered and every block
/// after it has been issued (last block first), so every rank issues the
/// same sequence whatever its ranges were. Backward finishes the buffer tail
/// first, so in training nothing waits longer than it did.
class BlockSchedule {
 public:
  explicit BlockSchedule(int64_t count);
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_start(int64_t b) const;
  int64_t block_end(int64_t b) const;
  /// Covers [offset, offset + count) (inside the buffer, not covered since
  /// the last reset(): checked) and returns the blocks to issue now, in order.
  std::vector<int64_t> cover(int64_t offset, int64_t count);
  /// Every block issued.
  bool complete() const { return next_ < 0; }
  /// Blocks not yet issued.
  int64_t missing() const { return next_ + 1; }
  void reset();

 private:
  int64_t block_of(int64_t offset) const;
  int64_t count_, head_, num_blocks_;
  std::vector<int64_t> covered_;  ///< floats of each block covered so far
  int64_t next_;                  ///< the next block to issue (-1: all issued)
};

/// Time spent by the reductions started since the last wait().
struct ReduceStats {
  double busy_s = 0.0;  ///< the communication thread's time inside all-reduce calls
  double wait_s = 0.0;  ///< how long wait() blocked the caller (the exposed part)
  int64_t blocks = 0;   ///< all-reduce calls made
  int64_t bytes = 0;    ///< bytes reduced
};

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  GradientReducer() = default;
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// Marks gradients [offset, offset + count) as final and starts reducing
  /// every block that is now wholly covered. Ranges may be of any size and
  /// need not follow block boundaries; together they must cover the buffer
  /// exactly once between two wait() calls.
  virtual void start(int64_t offset, int64_t count) = 0;
  /// Blocks until every started range is reduced (in place, on every rank);
  /// throws if the started ranges did not cover the whole buffer or if a
  /// reduction failed. Returns the step's timings.
  virtual ReduceStats wait() = 0;
  /// The algorithm that runs (never kAuto).
  virtual AllreduceAlgo algo() const = 0;
  /// "host", "staged" or "nccl".
  virtual const char* kind() const = 0;
};

/// Gradients in host memory (`data`, `count` floats, on every rank): blocks
/// are reduced in place by `algo` on a communication thread. Needs MPI at
/// MPI_THREAD_SERIALIZED or above (checked: throws naming the level granted).
std::unique_ptr<GradientReducer> make_host_reducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count);

/// The same with compressed messages (comm/reduce_scatter.hpp): each block
/// is reduce-scattered and all-gathered with bf16 on the wire, so every rank
/// holds the same bf16-exact sums. kNone is make_host_reducer above. Only
/// the ring compresses (auto picks it); other algorithms are refused by name.
std::unique_ptr<GradientReducer> make_host_reducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count,
                                                   GradCompression compression);

/// Gradients in a backend's device memory: each ready block is downloaded to
/// a host staging buffer, reduced there by `algo`, and uploaded back. This is
/// how a GPU backend uses the MPI algorithms. With compression, as the
/// compressed make_host_reducer (the ring only).
std::unique_ptr<GradientReducer> make_staged_reducer(Communicator& comm, AllreduceAlgo algo, kernels::Backend& backend,
                                                     float* device_data, int64_t count,
                                                     GradCompression compression = GradCompression::kNone);

/// Gradients in a GPU backend's memory, reduced by NCCL on the device
/// (src/comm/nccl/nccl_reducer.cpp): rank 0's ncclUniqueId is broadcast over
/// `comm`, each rank joins with ncclCommInitRank on the GPU the backend
/// drives, and each ready block is all-reduced by ncclAllReduce on a
/// communication stream that first waits on an event recorded on the
/// backend's compute stream (Backend::native_stream) when the block's
/// gradients were issued; wait() makes the compute stream wait on the
/// communication stream (no host round trip). The same blocks as the other
/// reducers. Throws UsageError when the build has no NCCL, the backend has no
/// stream, or two ranks share one GPU (NCCL refuses that).
std::unique_ptr<GradientReducer> make_nccl_reducer(Communicator& comm, kernels::Backend& backend, float* device_data,
                                                   int64_t count);
/// The NCCL reducer sharded (ZeRO stages 1-2): blocks reduce-scattered by
/// ncclReduceScatter (rank r owns chunk r of p equal chunks of each block),
/// shard_gradients() and the params of all_gather() in device memory,
/// all_gather() by ncclAllGather, ordered on the backend's stream like
/// wait(). Deterministic, but NCCL does not promise its reduce-scatter adds
/// as its all-reduce does: not bitwise the unsharded NCCL run.
std::unique_ptr<ShardedReducer> make_nccl_sharded_reducer(Communicator& comm, kernels::Backend& backend,
                                                          float* device_data, int64_t count);
/// True when this build contains NCCL.
bool nccl_compiled();

/// `algo`, or for kAuto what `auto` picks for the reducers' calls (one
/// reduction block, or the whole buffer when it is smaller). The one place
/// `auto` is resolved for training.
AllreduceAlgo resolve_allreduce(const Communicator& comm, AllreduceAlgo algo, int64_t count);

/// A sharded optimizer's gradient exchange (ZeRO stages 1-2, issue 30): the
/// same blocks, issued in the same order as the other reducers, but each is
/// only reduce-scattered (comm/reduce_scatter.hpp). This rank owns one slice
/// of every block, the part the algorithm leaves reduced on it; the
/// optimizer keeps state for these slices only (Optimizer::step_slices) and
/// reads slice i's reduced gradients at shard_gradients() +
/// shard_gradient_offsets()[i]: the only reduced gradients this rank keeps
/// (stage 2; the rest of the gradient buffer is left undefined). On the host
/// they stay where the reduce-scatter left them, inside the gradient buffer
/// (no second buffer, and no copy: issue 30, packing them in place at the
/// front of the buffer was a 13 MB memmove, ~0.7 ms of a 38 ms step of
/// mlp:3200-1600-832 on 2 ranks); the staged and NCCL reducers pack them
/// into a device buffer of shard_count() floats. After the step, all_gather()
/// gives every rank every slice of the updated weights. The sums are bitwise
/// those of make_host_reducer() with the same algorithm, so the weights are
/// bitwise those of the unsharded optimizer.
class ShardedReducer : public GradientReducer {
 public:
  /// This rank's slices [first, last) of the buffer, one per block in block
  /// order (some may be empty).
  virtual const std::vector<Range>& slices() const = 0;
  /// Floats in slices(): the optimizer state's size, about count / p.
  virtual int64_t shard_count() const = 0;
  /// The reduced gradients of slices(), valid after wait(): slice i's at
  /// shard_gradient_offsets()[i] from here.
  virtual const float* shard_gradients() const = 0;
  /// Per slice, where its reduced gradients start in shard_gradients(): the
  /// slice's own offset in the gradient buffer on the host (shard_gradients()
  /// is the buffer itself), its packed offset in the staged and NCCL
  /// reducers' device buffer.
  virtual const std::vector<int64_t>& shard_gradient_offsets() const = 0;
  /// After wait() and the optimizer's step on slices() of `params` (`count`
  /// floats, where the gradients live: host memory, or device memory for
  /// NCCL): every rank's slices to all ranks, uncompressed, block by block
  /// in a fixed order. Collective; the host reducer runs it on the caller's
  /// thread while the communication thread is idle.
  virtual void all_gather(float* params) = 0;
};

/// Gradients in host memory, sharded. `algo` must have a reduce-scatter half
/// (auto picks hier across regular nodes of several ranks, else ring from
/// 64 KiB blocks and rhd below; with compression, the ring); others, and compression the algorithm does
/// not support, are refused by name (UsageError).
std::unique_ptr<ShardedReducer> make_sharded_reducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count,
                                                     GradCompression compression = GradCompression::kNone);
/// The same for gradients in a backend's device memory (the GPU backend with
/// the MPI algorithms), staged through one host block as make_staged_reducer:
/// each block is downloaded, reduce-scattered on the host and this rank's
/// slice uploaded into a packed device buffer (shard_gradients() is device
/// memory); all_gather() takes the params in device memory.
std::unique_ptr<ShardedReducer> make_sharded_staged_reducer(Communicator& comm, AllreduceAlgo algo,
                                                            kernels::Backend& backend, float* device_data,
                                                            int64_t count,
                                                            GradCompression compression = GradCompression::kNone);
/// `algo`, or what `auto` picks for a sharded reducer of `count` floats.
AllreduceAlgo resolve_sharded_allreduce(const Communicator& comm, AllreduceAlgo algo, int64_t count);

/// The MPI thread level the reducers need, and whether this process has it.
int reducer_thread_level();
bool mpi_thread_level_at_least(int level);

}  // namespace hpcnn::comm
