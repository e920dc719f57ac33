// A sharded optimizer's state in checkpoints (issue 30): a checkpoint keeps
// one full vector per state buffer, as an unsharded run writes it, so a run
// resumes with or without sharding and at another rank count. On save the
// ranks' packed slices are gathered to one rank into the full vector; on
// load every rank (each reads the checkpoint) takes its slices out of it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/reduce_scatter.hpp"

namespace hpcnn::comm {

/// The full `count`-float vector on `root` (empty on the other ranks): each
/// rank's `packed` values of its `slices` (ShardedReducer::slices(), packed
/// in that order) put in their places. Collective. Throws unless the slices
/// of all ranks cover [0, count) exactly once.
std::vector<float> gather_shard(Communicator& comm, std::span<const Range> slices, std::span<const float> packed,
                                int64_t count, int root = 0);

/// The same full vector handed to `sink` on `root` in windows of `window`
/// floats, [0, window), [window, 2 window), ... in ascending order (the last
/// one shorter), each window's values received straight from their owners
/// (issue 30: root holds one window, not the full vector, while it writes a
/// checkpoint). `sink` is called on root only, with a span valid during the
/// call; count == 0 gives one empty call. A sink that throws does not stop
/// the gathers: the rest of the windows are received and dropped, then the
/// first exception is rethrown (the other ranks never hang). Collective, with
/// gather_shard's checks (slices of all ranks tile [0, count)).
void gather_shard_windows(Communicator& comm, std::span<const Range> slices, std::span<const float> packed,
                          int64_t count, int64_t window,
                          const std::function<void(int64_t first, std::span<const float> values)>& sink, int root = 0);

/// This rank's packed values of `slices` out of a full vector (checked to
/// hold every slice).
std::vector<float> scatter_shard(std::span<const float> full, std::span<const Range> slices);

/// The same when only `root` holds the full vector (`full`, read on root
/// only; `count` floats): root sends each rank just its slices, so no other
/// rank ever holds the whole vector (a resumed sharded run's optimizer
/// state). Collective; throws on every rank unless root's vector has `count`
/// floats and every slice lies inside it.
std::vector<float> scatter_shard(Communicator& comm, std::span<const Range> slices, std::span<const float> full,
                                 int64_t count, int root = 0);

/// A sharded optimizer's all-gather of the updated weights, pipelined with
/// the optimizer pass (issue 30): the caller marks block b ready() as soon as
/// this rank's slice of it is updated (blocks 0, 1, 2, ... in ascending
/// order, checked), and the block's slices travel while the caller updates
/// the next ones; finish() waits for the rest and returns the seconds it
/// waited. Blocks are the reducers' (BlockSchedule of `count`). Other ranks'
/// slices are written into `data` at any time between begin() and finish()
/// (BlockGatherer once every rank has marked the block, DirectGatherer as
/// soon as their owner has), and this rank's slice of a block is read at any
/// time after it is marked: so between begin() and finish() the caller
/// touches only its own slices, none of them once marked ready, and makes no
/// MPI call of its own.
class SliceGatherer {
 public:
  virtual ~SliceGatherer() = default;
  virtual int64_t num_blocks() const = 0;
  /// A new pass over `data` (`count` floats, host memory); none marked yet.
  virtual void begin(float* data) = 0;
  /// This rank's slice of `block` is final: gather the block. Throws unless
  /// `block` is the next one in ascending order.
  virtual void ready(int64_t block) = 0;
  /// Waits until every block is gathered and returns the seconds it waited;
  /// rethrows a failed gather. Throws if a block was never marked ready.
  virtual double finish() = 0;
};

/// The SliceGatherer on a thread of its own (across nodes; the weight update
/// uses DirectGatherer below inside one node). Gathered after the whole
/// pass, the 26
/// blocking ring all-gathers of mlp:3200-1600-832 on 2 ranks took 4.4 ms of
/// a 38.4 ms step (results/zero/step_phases.md) while Adam's 3.9 ms over the
/// rank's slices ran before them with the communication idle. Here a thread
/// of its own gathers block b (comm::all_gather of the reducer's block b of
/// `data`, by `algo`, uncompressed) as soon as the caller marks it ready(),
/// while the caller updates the next blocks: only what is left after the
/// last block waits in finish().
///
/// Blocks are the reducers' (BlockSchedule of `count`), marked 0, 1, 2, ...
/// in ascending order (checked: the order every rank gathers them in, so the
/// calls pair). A block is gathered only once it was marked ready, never
/// before: its slice on this rank must be final (the rest of the block is
/// overwritten by the other ranks' slices). Between begin() and finish() the
/// caller makes no MPI call and touches no part of a block marked ready
/// (MPI_THREAD_SERIALIZED: the thread owns MPI meanwhile, as the reducer's
/// communication thread does during backward).
class BlockGatherer final : public SliceGatherer {
 public:
  BlockGatherer(Communicator& comm, AllreduceAlgo algo, int64_t count);
  ~BlockGatherer() override;
  BlockGatherer(const BlockGatherer&) = delete;
  BlockGatherer& operator=(const BlockGatherer&) = delete;

  int64_t num_blocks() const override { return schedule_.num_blocks(); }
  void begin(float* data) override;
  void ready(int64_t block) override;
  double finish() override;
  /// Blocks gathered so far in this pass (for tests).
  int64_t gathered() const;

 private:
  void run();

  Communicator& comm_;
  const AllreduceAlgo algo_;
  const BlockSchedule schedule_;
  float* data_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_, done_cv_;
  int64_t marked_ = 0, gathered_ = 0;  ///< blocks marked ready / gathered in this pass
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  ///< last: started once everything above exists
};

/// The SliceGatherer without a thread, on the caller's: every rank's slices
/// are known to all (gathered once, at construction: collective), and when
/// block b is marked ready this rank's slice of it is sent to every other
/// rank with MPI_Isend, straight from `data`; every rank's slices were
/// received in place by MPI_Irecv posted at begin(). ready() tests the send
/// it posted once (MPI's progress: on one node Open MPI's shared-memory
/// transport copies each message once, with CMA, when the receiver matches
/// it), finish() waits for the rest. Only copies: the weights are bitwise
/// those of any all-gather. Per rank and step the same bytes as the ring's
/// all-gather, in p - 1 messages per block instead of p - 1 ring steps.
///
/// Why (issue 30, results/zero/cpu_ab.md): on 2 ranks on 2 cores,
/// BlockGatherer's thread waited in blocking ring exchanges, and Open MPI's
/// blocking waits spin: its CPU per step was as large as the reducer's
/// communication thread's, shared with the optimizer on the rank's core.
/// Here nothing spins while the optimizer runs: the only blocking wait is
/// finish()'s, for the peers' last slices.
///
/// The caller makes no other MPI call between begin() and finish() (the
/// reducer's communication thread is idle after wait(): MPI_THREAD_SERIALIZED
/// holds). Made for ranks of one node (the weight update picks it there);
/// correct on any communicator.
class DirectGatherer final : public SliceGatherer {
 public:
  /// `slices`: this rank's slice of each block of the BlockSchedule of
  /// `count` (ShardedReducer::slices()). Collective.
  DirectGatherer(Communicator& comm, std::span<const Range> slices, int64_t count);
  ~DirectGatherer() override;
  DirectGatherer(const DirectGatherer&) = delete;
  DirectGatherer& operator=(const DirectGatherer&) = delete;

  int64_t num_blocks() const override { return num_blocks_; }
  void begin(float* data) override;
  void ready(int64_t block) override;
  double finish() override;

 private:
  /// Cancels and frees every request still posted (a pass that failed).
  void drop_requests();

  Communicator& comm_;
  const int64_t num_blocks_;
  /// Every rank's slices, rank r's of block b at r * num_blocks_ + b.
  std::vector<Range> all_slices_;
  float* data_ = nullptr;
  int64_t marked_ = 0;
  bool open_ = false;  ///< between begin() and finish()
  std::vector<MPI_Request> requests_;
};

}  // namespace hpcnn::comm
