// Names, refusals and the one dispatch switch of the all-reduce halves.
#include "comm/reduce_scatter.hpp"

#include <mpi.h>

#include "core/check.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

GradCompression parse_grad_compression(const std::string& text) {
  if (text == "none") return GradCompression::kNone;
  if (text == "bf16") return GradCompression::kBf16;
  if (text == "fp16") return GradCompression::kFp16;
  throw UsageError("unknown gradient compression '" + text + "' (expected none, bf16 or fp16)");
}

const char* grad_compression_name(GradCompression c) {
  switch (c) {
    case GradCompression::kBf16: return "bf16";
    case GradCompression::kFp16: return "fp16";
    case GradCompression::kNone: break;
  }
  return "none";
}

ShardPlace shard_place(Communicator& comm) {
  ShardPlace place;
  place.rank = comm.rank();
  place.size = comm.size();
  place.node_rank = comm.node_rank();
  place.node_size = comm.node_size();
  int leader[2] = {0, 1};
  if (comm.node_rank() == 0) {
    if (Communicator* leaders = comm.leaders(); leaders != nullptr) {
      leader[0] = leaders->rank();
      leader[1] = leaders->size();
    }
  }
  if (comm.node_size() > 1) MPI_CHECK(MPI_Bcast(leader, 2, MPI_INT, 0, comm.node_comm()));
  place.leader_rank = leader[0];
  place.num_leaders = leader[1];
  return place;
}

bool has_reduce_scatter(AllreduceAlgo algo) {
  return algo == AllreduceAlgo::kRing || algo == AllreduceAlgo::kRhd || algo == AllreduceAlgo::kHier;
}

void check_reduce_scatter(AllreduceAlgo algo, GradCompression compression) {
  if (!has_reduce_scatter(algo)) {
    throw UsageError(std::string("the all-reduce '") + allreduce_name(algo) +
                     "' has no reduce-scatter half for a sharded optimizer (ring, rhd and hier have)");
  }
  if (compression != GradCompression::kNone && algo != AllreduceAlgo::kRing) {
    throw UsageError(std::string(grad_compression_name(compression)) +
                     " gradient compression runs on the ring all-reduce only, not '" + allreduce_name(algo) + "'");
  }
}

Range owned_range(AllreduceAlgo algo, const ShardPlace& place, int64_t count) {
  switch (algo) {
    case AllreduceAlgo::kRing: return ring_owned_range(place.rank, place.size, count);
    case AllreduceAlgo::kRhd: return rhd_owned_range(place.rank, place.size, count);
    case AllreduceAlgo::kHier: return hier_owned_range(place, count);
    default: check_reduce_scatter(algo, GradCompression::kNone);
  }
  HPCNN_THROW("unknown all-reduce algorithm ", static_cast<int>(algo));
}

Range reduce_scatter(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count, GradCompression compression) {
  check_reduce_scatter(algo, compression);
  switch (algo) {
    case AllreduceAlgo::kRing: return reduce_scatter_ring(comm, data, count, compression);
    case AllreduceAlgo::kRhd: return reduce_scatter_rhd(comm, data, count);
    case AllreduceAlgo::kHier: return reduce_scatter_hier(comm, data, count);
    default: break;
  }
  HPCNN_THROW("unknown all-reduce algorithm ", static_cast<int>(algo));
}

void all_gather(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count, GradCompression compression) {
  check_reduce_scatter(algo, compression);
  switch (algo) {
    case AllreduceAlgo::kRing: return all_gather_ring(comm, data, count, compression);
    case AllreduceAlgo::kRhd: return all_gather_rhd(comm, data, count);
    case AllreduceAlgo::kHier: return all_gather_hier(comm, data, count);
    default: break;
  }
  HPCNN_THROW("unknown all-reduce algorithm ", static_cast<int>(algo));
}

}  // namespace hpcnn::comm
