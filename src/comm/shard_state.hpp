// A sharded optimizer's state in checkpoints (issue 30): a checkpoint keeps
// one full vector per state buffer, as an unsharded run writes it, so a run
// resumes with or without sharding and at another rank count. On save the
// ranks' packed slices are gathered to one rank into the full vector; on
// load every rank (each reads the checkpoint) takes its slices out of it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "comm/communicator.hpp"
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

}  // namespace hpcnn::comm
