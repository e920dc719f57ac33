// The two halves of an all-reduce, for a sharded optimizer (ZeRO stages 1-2,
// issue 30): reduce_scatter() leaves each rank with the fully reduced sum of
// one part of the message (the part the algorithm's own reduce-scatter phase
// leaves there), all_gather() copies every rank's part to all ranks.
//
// Bitwise contract: reduce_scatter() followed by all_gather() gives every
// rank bitwise what allreduce() of the same algorithm gives, because each
// element is summed by the same additions in the same order (the proof is
// tests/mpi/test_shard_mpi.cpp). Only ring, rhd and hier have these halves;
// the others (tree, central, mpi, shm) are refused by name.
//
//  ring: the ring's own phases; rank r owns segment (r + 1) mod p.
//  rhd:  recursive halving among the p' = 2^floor(log2 p) surviving ranks,
//        with the split points weighted by how many real ranks each side
//        stands for (a survivor that folded a partner in counts twice), and a
//        survivor that folded hands half of its part to its partner: every
//        rank owns about count / p. Where a halving step cuts does not change
//        any sum: each element is still added pairwise along the same
//        butterfly (a + b == b + a in IEEE arithmetic), so the sums equal
//        allreduce_rhd's.
//  hier: the node's shared-memory sum (rank order, as allreduce_hier), the
//        node leaders' reduce-scatter (ring from 256 KiB, rhd below, as
//        allreduce_hier), then each node rank owns an equal piece of its
//        leader's part. Copies through the node window: refused for data that
//        lives inside a pinned gradient window (Communicator::gradient_window).
//
// bf16 compression (kBf16): reduce-scatter messages travel in 16 bits. Each
// hop adds the incoming bf16 values in FP32 and rounds the partial sum once
// when it is sent on; the owner rounds its final FP32 sum once, so the result
// is bf16-exact and the all-gather sends it in 16 bits without loss. Rounding
// is to nearest even, in a fixed order: deterministic. With one rank nothing
// travels and nothing is rounded. Compression covers ring only for now (rhd
// and hier are refused by name).
//
// fp16 compression (kFp16): the same, in IEEE half precision (11 significant
// bits against bf16's 8, but 5 exponent bits: subnormal below 2^-14, 0 at
// 2^-25 and below, finite values beyond 65504 clamped to 65504; see
// comm/compression.hpp). Same order, one rounding per hop, FP32 adds.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "comm/allreduce.hpp"
#include "comm/communicator.hpp"

namespace hpcnn::comm {

enum class GradCompression { kNone, kBf16, kFp16 };
/// "none" | "bf16" | "fp16"; UsageError otherwise.
GradCompression parse_grad_compression(const std::string& text);
const char* grad_compression_name(GradCompression c);

/// [first, last) of a message.
using Range = std::pair<int64_t, int64_t>;

/// Where this rank sits for the halves: its rank, and for hier its node's
/// place among the node leaders. Collective over the node (it asks the
/// leader); make it once per communicator.
struct ShardPlace {
  int rank = 0, size = 1;
  int node_rank = 0, node_size = 1;
  int leader_rank = 0, num_leaders = 1;  ///< this rank's node among the leaders
};
ShardPlace shard_place(Communicator& comm);

/// True for the algorithms that have a reduce-scatter half (ring, rhd, hier).
bool has_reduce_scatter(AllreduceAlgo algo);
/// Throws UsageError naming the algorithm when it has no reduce-scatter half
/// or does not support `compression` (auto must be resolved first).
void check_reduce_scatter(AllreduceAlgo algo, GradCompression compression);

/// The part of a `count`-float message that reduce_scatter() leaves fully
/// reduced on the rank at `place`. Over all ranks these parts cover the
/// message exactly once; each is count / p floats give or take p.
Range owned_range(AllreduceAlgo algo, const ShardPlace& place, int64_t count);

/// Sums `count` floats of `data` over all ranks so that this rank's
/// owned_range() holds the full sum; the rest of `data` is left undefined.
/// Returns the owned range.
Range reduce_scatter(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count,
                     GradCompression compression = GradCompression::kNone);
/// The reverse: every rank's owned_range() of `data` to all ranks. With kBf16
/// (kFp16) the values travel in 16 bits and must be bf16- (fp16-) exact (reduce_scatter's
/// compressed sums are; weights are not: gather weights uncompressed).
void all_gather(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count,
                GradCompression compression = GradCompression::kNone);

Range reduce_scatter_ring(Communicator& comm, float* data, int64_t count, GradCompression compression);
void all_gather_ring(Communicator& comm, float* data, int64_t count, GradCompression compression);
Range reduce_scatter_rhd(Communicator& comm, float* data, int64_t count);
void all_gather_rhd(Communicator& comm, float* data, int64_t count);
Range reduce_scatter_hier(Communicator& comm, float* data, int64_t count);
void all_gather_hier(Communicator& comm, float* data, int64_t count);

/// Owned ranges without a communicator, for each algorithm.
Range ring_owned_range(int rank, int size, int64_t count);
Range rhd_owned_range(int rank, int size, int64_t count);
Range hier_owned_range(const ShardPlace& place, int64_t count);

}  // namespace hpcnn::comm
