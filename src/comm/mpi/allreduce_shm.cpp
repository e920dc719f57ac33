// Shared-memory all-reduce inside one node, through an MPI-3 shared window
// with one slot per rank. Per piece: every rank copies its data into its slot;
// after a barrier, rank i adds slice i of every other slot, in rank order,
// into slice i of rank 0's slot; after another barrier every rank copies rank
// 0's slot out. Memory traffic only, no messages: per rank, n floats copied
// in, about n read and n/q written in the reduction, n copied out. When the
// gradients already live in the window (Communicator::gradient_window), the
// copy in is skipped and each rank copies out only the slices it did not sum.
#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

namespace {
/// Slot size: 16 Mi floats (64 MiB) per rank at most; larger messages go in pieces.
constexpr int64_t kSlotFloats = int64_t{1} << 24;
}  // namespace

namespace detail {

namespace {
/// Zero-copy: `data` is this rank's own slot of the gradient window (same
/// offset in every rank's slot). Rank i sums slice i of every slot, in rank
/// order as the copying path does, into its own slot; then each rank copies
/// the other slices from their owners' slots. With a leader step, the leader
/// first gathers the node sum into its slot and every rank copies it from there.
void shm_allreduce_in_place(Communicator& comm, float* data, int64_t count, const LeaderStep& leader_step) {
  const int q = comm.node_size(), me = comm.node_rank();
  const auto& slots = comm.shared_slots(0);  // the pinned window, as it is
  const int64_t off = comm.offset_in_my_slot(data, count);
  auto slot = [&](int r) { return slots.slot[static_cast<size_t>(r)] + off; };
  comm.node_sync();  // every rank's gradients are final
  const auto [lo, hi] = block_range(count, me, q);
  for (int64_t i = lo; i < hi; ++i) {
    float acc = slot(0)[i];
    for (int r = 1; r < q; ++r) acc += slot(r)[i];
    data[i] = acc;
  }
  comm.node_sync();
  if (leader_step) {
    if (me == 0) {
      for (int r = 1; r < q; ++r) {
        const auto [rlo, rhi] = block_range(count, r, q);
        std::copy(slot(r) + rlo, slot(r) + rhi, data + rlo);
      }
      leader_step(data, count);
    }
    comm.node_sync();
    if (me != 0) std::copy_n(slot(0), count, data);
  } else {
    for (int r = 0; r < q; ++r) {
      if (r == me) continue;
      const auto [rlo, rhi] = block_range(count, r, q);
      std::copy(slot(r) + rlo, slot(r) + rhi, data + rlo);
    }
  }
  comm.node_sync();  // nobody writes its slot again before all have copied from it
}
}  // namespace

void shm_allreduce(Communicator& comm, float* data, int64_t count, const LeaderStep& leader_step) {
  const int q = comm.node_size(), me = comm.node_rank();
  if (count == 0) return;
  if (q == 1) {
    if (leader_step) leader_step(data, count);
    return;
  }
  if (comm.offset_in_my_slot(data, count) >= 0) return shm_allreduce_in_place(comm, data, count, leader_step);
  const auto& slots = comm.shared_slots(std::min(count, kSlotFloats));
  float* my_slot = slots.slot[static_cast<size_t>(me)];
  for (int64_t off = 0; off < count; off += kSlotFloats) {
    const int64_t n = std::min(kSlotFloats, count - off);
    std::copy_n(data + off, n, my_slot);
    comm.node_sync();
    // Only rank `me` touches slice `me` of any slot, so it sums in place into
    // rank 0's slot, adding the other slots in rank order.
    const auto [lo, hi] = block_range(n, me, q);
    for (int r = 1; r < q; ++r) add_into(slots.slot[0] + lo, slots.slot[static_cast<size_t>(r)] + lo, hi - lo);
    comm.node_sync();
    if (leader_step && me == 0) leader_step(slots.slot[0], n);
    if (leader_step) comm.node_sync();
    std::copy_n(slots.slot[0], n, data + off);
    comm.node_sync();  // rank 0's next copy-in must not overwrite what others still read
  }
}

}  // namespace detail

void allreduce_shm(Communicator& comm, float* data, int64_t count) {
  HPCNN_CHECK(comm.num_nodes() == 1, "allreduce shm needs every rank on one node (", comm.num_nodes(),
              " nodes here); use hier");
  detail::shm_allreduce(comm, data, count, {});
}

}  // namespace hpcnn::comm
