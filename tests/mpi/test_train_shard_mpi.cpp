// comm::scatter_shard from one rank (issue 30, the trainer's resume of a
// sharded run): each rank gets exactly its slices of root's full vector, the
// same as the local scatter_shard of the whole vector, for ring, rhd and hier
// slices of an uneven buffer, whichever rank is root; a root whose vector has
// the wrong length, or a slice outside it, throws on every rank (no hang).
#include <mpi.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <numeric>
#include <vector>

#include "comm/gradient_reducer.hpp"
#include "comm/shard_state.hpp"

using namespace hpcnn;
using namespace hpcnn::comm;

namespace {
/// This rank's slices of a `count`-float buffer as a sharded reducer cuts it.
std::vector<Range> slices_of(Communicator& comm, AllreduceAlgo algo, int64_t count) {
  const ShardPlace place = shard_place(comm);
  const BlockSchedule blocks(count);
  std::vector<Range> out;
  for (int64_t b = 0; b < blocks.num_blocks(); ++b) {
    const int64_t first = blocks.block_start(b);
    const Range mine = owned_range(algo, place, blocks.block_end(b) - first);
    out.emplace_back(first + mine.first, first + mine.second);
  }
  return out;
}
}  // namespace

TEST_CASE("scatter_shard from one rank gives each rank its slices of the full vector", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  const int64_t n = 2 * kReduceBlock + 12345;  // a short first block
  std::vector<float> full(static_cast<size_t>(n));
  std::iota(full.begin(), full.end(), 0.5f);
  for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
    const std::vector<Range> slices = slices_of(comm, algo, n);
    for (int root : {0, comm.size() - 1}) {
      const std::vector<float> held = comm.rank() == root ? full : std::vector<float>();
      const std::vector<float> mine = scatter_shard(comm, slices, held, n, root);
      const std::vector<float> want = scatter_shard(full, slices);
      INFO(allreduce_name(algo) << ", root " << root);
      REQUIRE(mine.size() == want.size());
      CHECK(std::memcmp(mine.data(), want.data(), mine.size() * sizeof(float)) == 0);
      // Gathered back: the full vector on root, bitwise.
      const std::vector<float> again = gather_shard(comm, slices, mine, n, root);
      if (comm.rank() == root) CHECK(std::memcmp(again.data(), full.data(), full.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("scatter_shard from one rank refuses a short vector or a slice outside it on every rank", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  const std::vector<Range> none;
  const std::vector<float> short_vector(comm.rank() == 0 ? 5 : 0, 1.0f);
  CHECK_THROWS_WITH(scatter_shard(comm, none, short_vector, 10), Catch::Contains("holds 5 floats, not 10"));
  const std::vector<float> full(comm.rank() == 0 ? 10 : 0, 1.0f);
  // Only the last rank's slice is outside: every rank throws all the same.
  const std::vector<Range> mine = comm.rank() == comm.size() - 1 ? std::vector<Range>{{8, 12}} : none;
  CHECK_THROWS_WITH(scatter_shard(comm, mine, full, 10), Catch::Contains("a rank's slice lies outside the 10 floats"));
}
