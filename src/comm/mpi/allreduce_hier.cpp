// Hierarchical all-reduce: shared memory inside each node, then the node
// leaders all-reduce the node sums between nodes (ring for large messages,
// recursive halving-doubling for small ones), then every rank copies the
// result out of the node's shared window. Inter-node traffic is that of a
// ring over nodes rather than over all ranks.
#include <algorithm>

#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"
#include "comm/reduce_scatter.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

void allreduce_hier(Communicator& comm, float* data, int64_t count) {
  if (comm.size() == 1 || count == 0) return;
  detail::shm_allreduce(comm, data, count, [&comm](float* node_sum, int64_t n) {
    Communicator* leaders = comm.leaders();
    if (leaders == nullptr || leaders->size() == 1) return;
    if (detail::hier_leaders_use_ring(n)) {
      allreduce_ring(*leaders, node_sum, n);
    } else {
      allreduce_rhd(*leaders, node_sum, n);
    }
  });
}

// ---- the halves (comm/reduce_scatter.hpp) ---------------------------------
//
// The node's sum as shm_allreduce's copying path makes it (slices summed in
// rank order into rank 0's slot), the leaders' reduce-scatter of it, and each
// node rank takes an equal piece of its leader's part; the all-gather puts
// the pieces back into the leader's slot, all-gathers between leaders and
// copies the whole out. One window piece: messages up to kSlotFloats, and not
// from a pinned gradient window (whose slots hold other gradients).

namespace {

constexpr int64_t kHierHalvesMax = int64_t{1} << 24;  // shm_allreduce's piece: 16 Mi floats

Range leaders_owned_range(const ShardPlace& place, int64_t count) {
  if (place.num_leaders == 1) return {0, count};
  return detail::hier_leaders_use_ring(count) ? ring_owned_range(place.leader_rank, place.num_leaders, count)
                                              : rhd_owned_range(place.leader_rank, place.num_leaders, count);
}

void check_hier_halves(Communicator& comm, const float* data, int64_t count) {
  HPCNN_CHECK(count <= kHierHalvesMax, "hier reduce-scatter: ", count, " floats exceed one window piece of ",
              kHierHalvesMax, " (reduce in blocks)");
  HPCNN_CHECK(comm.offset_in_my_slot(data, count) < 0,
              "hier reduce-scatter: the data lives in the pinned gradient window; shard a copy instead");
}

}  // namespace

Range hier_owned_range(const ShardPlace& place, int64_t count) {
  const Range seg = leaders_owned_range(place, count);
  const auto [lo, hi] = block_range(seg.second - seg.first, place.node_rank, place.node_size);
  return {seg.first + lo, seg.first + hi};
}

Range reduce_scatter_hier(Communicator& comm, float* data, int64_t count) {
  const ShardPlace place = shard_place(comm);
  if (comm.size() == 1 || count == 0) return hier_owned_range(place, count);
  check_hier_halves(comm, data, count);
  Communicator* leaders = comm.node_rank() == 0 ? comm.leaders() : nullptr;
  auto leader_step = [&](float* node_sum) {
    if (leaders == nullptr || leaders->size() == 1) return;
    if (detail::hier_leaders_use_ring(count)) {
      reduce_scatter_ring(*leaders, node_sum, count, GradCompression::kNone);
    } else {
      reduce_scatter_rhd(*leaders, node_sum, count);
    }
  };
  const int q = comm.node_size(), me = comm.node_rank();
  if (q == 1) {
    leader_step(data);
    return hier_owned_range(place, count);
  }
  const auto& slots = comm.shared_slots(count);
  float* node_sum = slots.slot[0];
  std::copy_n(data, count, slots.slot[static_cast<size_t>(me)]);
  comm.node_sync();
  const auto [lo, hi] = block_range(count, me, q);
  for (int r = 1; r < q; ++r) detail::add_into(node_sum + lo, slots.slot[static_cast<size_t>(r)] + lo, hi - lo);
  comm.node_sync();
  if (me == 0) leader_step(node_sum);
  comm.node_sync();
  const Range mine = hier_owned_range(place, count);
  std::copy(node_sum + mine.first, node_sum + mine.second, data + mine.first);
  comm.node_sync();  // the next call's copy-in must not overwrite what others still read
  return mine;
}

void all_gather_hier(Communicator& comm, float* data, int64_t count) {
  const ShardPlace place = shard_place(comm);
  if (comm.size() == 1 || count == 0) return;
  check_hier_halves(comm, data, count);
  Communicator* leaders = comm.node_rank() == 0 ? comm.leaders() : nullptr;
  auto leader_step = [&](float* node_parts) {
    if (leaders == nullptr || leaders->size() == 1) return;
    if (detail::hier_leaders_use_ring(count)) {
      all_gather_ring(*leaders, node_parts, count, GradCompression::kNone);
    } else {
      all_gather_rhd(*leaders, node_parts, count);
    }
  };
  if (comm.node_size() == 1) return leader_step(data);
  const auto& slots = comm.shared_slots(count);
  float* node_parts = slots.slot[0];
  const Range mine = hier_owned_range(place, count);
  std::copy(data + mine.first, data + mine.second, node_parts + mine.first);
  comm.node_sync();
  if (comm.node_rank() == 0) leader_step(node_parts);
  comm.node_sync();
  std::copy_n(node_parts, count, data);
  comm.node_sync();
}

}  // namespace hpcnn::comm
