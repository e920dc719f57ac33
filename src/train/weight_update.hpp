// A training step's weight update: the gradient exchange and the optimizer,
// plain or sharded (--shard-optimizer, ZeRO stages 1-2, issue 30).
//
// Plain: every block of the gradients is all-reduced, every rank runs the
// optimizer over all of them and keeps the full optimizer state.
//
// Sharded: every block is reduce-scattered (the first half of the same
// ring / rhd / hier all-reduce, over the same fixed blocks, in the same
// order), so each rank holds the full sum of one slice of each block and
// keeps only those (stage 2); the optimizer keeps state for those slices only
// and updates them (stage 1, Optimizer::step_slices); the updated weights are
// all-gathered. Each sum is made by the same additions in the same order as
// the all-reduce's, and the optimizer's arithmetic is per element: the weights
// are bitwise the plain run's (tests/integration/zero_train.sh). One rank, or
// --compute-only, has nothing to shard and runs plain.
//
// Checkpoints keep one full state vector (checkpoint.hpp): state_stream()
// gathers the slices on rank 0 window by window while it writes them
// (comm::gather_shard_windows), restore() has rank 0
// send each rank its slices of the full vectors (comm::scatter_shard), so a run
// resumes with or without sharding and at another rank count.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/shard_state.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace hpcnn::train {

/// The all-reduce a run uses, `auto` resolved once (by the size of a
/// reduction block): NCCL when asked for, or for `auto` on a GPU backend with
/// a stream (`gpu_stream`) and NCCL compiled in, when nothing is compressed;
/// with --shard-optimizer `auto` picks among ring, rhd and hier; with
/// --grad-compression bf16 it is the ring. Refuses (UsageError, one line
/// naming it) an algorithm without a reduce-scatter half under
/// --shard-optimizer and anything but the ring under compression.
comm::AllreduceAlgo resolve_run_allreduce(const comm::Communicator& comm, const TrainConfig& c, int64_t n_params,
                                          bool gpu_stream);

/// Rank 0's `count` parameters (`params`, in the backend's memory) to every
/// rank, in place: on a CPU backend straight from and into `params`, on a GPU
/// backend through one host window of kBroadcastWindow floats at a time.
/// Nothing with one rank. Collective. (Issue 30: the run's start copied every
/// parameter to a host vector and back, a second W beside the weights,
/// gradients and optimizer state: the peak of every run whose weights
/// outweigh its activations, 1.58 GB of the 414 M MLP's 8.1 GB.)
void broadcast_params(comm::Communicator& comm, kernels::Backend& backend, float* params, int64_t count);
/// Floats per MPI_Bcast of broadcast_params (64 MiB): large messages, and a
/// GPU backend's host window.
inline constexpr int64_t kBroadcastWindow = int64_t{1} << 24;

class WeightUpdate {
 public:
  /// Builds the optimizer over the trainable parameters of `net`
  /// ([offset, offset + count) of its flat buffers) and, when `exchange`,
  /// the gradient exchange (collective). `algo` is resolve_run_allreduce()'s.
  WeightUpdate(comm::Communicator& comm, kernels::Backend& backend, model::Model& net, const TrainConfig& c,
               comm::AllreduceAlgo algo, bool exchange);
  WeightUpdate(const WeightUpdate&) = delete;
  WeightUpdate& operator=(const WeightUpdate&) = delete;

  /// Gradients are exchanged (more than one rank, not --compute-only).
  bool reducing() const { return reducer_ != nullptr; }
  /// The optimizer holds this rank's slices only.
  bool sharded() const { return sharded_ != nullptr; }
  /// Trainable gradients [first, first + count) are final (counted from the
  /// trainable offset): the exchange may start on them.
  void start(int64_t first, int64_t count) { reducer_->start(first, count); }
  /// Waits for the exchange of the whole buffer.
  comm::ReduceStats wait() { return reducer_->wait(); }
  /// The optimizer's step on the reduced gradients; sharded, the all-gather
  /// of the updated weights too (collective), pipelined with the pass on a
  /// CPU backend: each block's slices travel as soon as this rank's slice of
  /// it is updated, while the optimizer updates the next (issue 30: gathered
  /// after the pass it was 4.4 ms of a 38.4 ms step of mlp:3200-1600-832 on
  /// 2 ranks). Inside one node by messages from this thread
  /// (comm::DirectGatherer), across nodes on a thread of its own
  /// (comm::BlockGatherer). The weights are whole when it returns.
  /// HPCNN_SHARD_GATHER=direct|thread|after forces a way (A/B switch).
  void apply();
  /// Seconds the last apply() spent in the all-gather after the optimizer
  /// pass (pipelined: only the wait for the blocks still in flight; 0
  /// unsharded): the trace's allgather phase.
  double all_gather_seconds() const { return all_gather_s_; }
  /// Bytes of weights each apply() all-gathers (this rank's trainable
  /// parameters; 0 unsharded): the allgather row's bytes, which tell a
  /// sharded step whose all-gather was wholly hidden (0 s) from a plain one.
  int64_t all_gather_bytes() const { return sharded_ ? count_ * static_cast<int64_t>(sizeof(float)) : 0; }

  /// Resuming: rank 0 passes the checkpoint's full state vectors (the other
  /// ranks' are ignored); every rank takes what it keeps. Collective when
  /// there is more than one rank.
  void restore(int64_t steps, const std::vector<float>& a, const std::vector<float>& b);
  /// The optimizer's full state for a checkpoint, chunk by chunk
  /// (OptimizerStateStream; rank 0's sink only is called). Unsharded: each
  /// full vector in one chunk (in place on a CPU backend). Sharded, it is
  /// collective (every rank calls it, once per checkpoint) and hands rank 0
  /// one 1 MiB window at a time as it arrives from the slices' owners: rank 0
  /// never holds a full state vector it does not own. A sink that throws does
  /// not stop the gathers (rethrown after them, so no rank hangs).
  OptimizerStateStream state_stream() const;

  /// Bytes of this rank's optimizer state (Adam: m and v; SGD: velocity).
  int64_t optimizer_state_bytes() const;
  /// Bytes of the reduced gradients a sharded run keeps beside the gradient
  /// buffer (a GPU backend's packed slices; 0 plain, and 0 on the host, which
  /// leaves them inside the gradient buffer).
  int64_t reduced_gradient_bytes() const;
  /// Host bytes rank 0 holds only while it writes a checkpoint (0 on the
  /// other ranks): one 1 MiB window of the gathered state when sharded on a
  /// CPU backend (the unsharded state and the parameters are written in place);
  /// on a GPU backend the downloaded parameters and one state vector.
  int64_t checkpoint_bytes() const;
  /// Bytes of the host staging block of a GPU backend's MPI exchange.
  int64_t staging_bytes() const;

 private:
  comm::Communicator& comm_;
  kernels::Backend& backend_;
  model::Model& net_;
  const int64_t offset_, count_;
  std::unique_ptr<comm::GradientReducer> reducer_;  ///< null on one rank and with --compute-only
  comm::ShardedReducer* sharded_ = nullptr;         ///< reducer_, when sharded
  std::unique_ptr<model::Optimizer> optimizer_;
  std::unique_ptr<comm::SliceGatherer> gatherer_;  ///< sharded on a CPU backend: the pipelined all-gather
  double all_gather_s_ = 0;
};

}  // namespace hpcnn::train
