// The all-reduce halves under mpirun (1..8 ranks): for ring, rhd and hier, on
// real and pretend nodes (regular and not), over uneven sizes on both sides
// of hier's ring/rhd switch, reduce_scatter() then all_gather() gives bitwise
// what allreduce() of the same algorithm gives; each rank's part is the
// owned_range() it can compute alone, the parts cover the message exactly
// once, about count / p each; the others are refused by name.
#include <mpi.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "comm/reduce_scatter.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "mpi_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::comm;
using hpcnn::test::random_floats;
using hpcnn::test::same_bytes;

namespace {
/// Every rank's owned range, on every rank, in rank order.
std::vector<Range> all_ranges(const Range& mine, MPI_Comm c) {
  int p = 1;
  MPI_Comm_size(c, &p);
  std::vector<int64_t> flat(2 * static_cast<size_t>(p));
  const int64_t me[2] = {mine.first, mine.second};
  MPI_Allgather(me, 2, MPI_INT64_T, flat.data(), 2, MPI_INT64_T, c);
  std::vector<Range> out;
  for (int r = 0; r < p; ++r) out.emplace_back(flat[2 * static_cast<size_t>(r)], flat[2 * static_cast<size_t>(r) + 1]);
  return out;
}

void check_halves(Communicator& comm, AllreduceAlgo algo, bool balanced) {
  const int p = comm.size();
  const ShardPlace place = shard_place(comm);
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{std::max(p - 1, 0)}, int64_t{p + 1}, int64_t{1000},
                    int64_t{65536 + 7}, int64_t{262144}}) {
    INFO(allreduce_name(algo) << ", " << p << " ranks, " << comm.num_nodes() << " nodes, " << n << " floats");
    const std::vector<float> in = random_floats(93, comm.rank(), n);
    std::vector<float> expected = in;
    allreduce(comm, algo, expected.data(), n);
    std::vector<float> halves = in;
    const Range mine = reduce_scatter(comm, algo, halves.data(), n);
    CHECK(mine == owned_range(algo, place, n));
    CHECK(same_bytes(halves.data() + mine.first, expected.data() + mine.first, mine.second - mine.first));
    all_gather(comm, algo, halves.data(), n);
    CHECK(same_bytes(halves.data(), expected.data(), n));
    // The parts tile [0, n) and are about n / p each.
    std::vector<Range> parts = all_ranges(mine, comm.comm());
    std::sort(parts.begin(), parts.end());
    int64_t next = 0;
    for (const auto& [first, last] : parts) {
      if (first == last) continue;
      CHECK(first == next);
      next = last;
      if (balanced) CHECK(std::abs((last - first) - n / p) <= p + 1);
    }
    CHECK(next == n);
  }
}
}  // namespace

TEST_CASE("halves: reduce-scatter then all-gather = all-reduce, bitwise, for ring, rhd and hier", "[mpi][shard]") {
  for (const int ranks_per_node : {0, 2, 3}) {
    Communicator comm(MPI_COMM_WORLD, ranks_per_node);
    // Nodes of unequal size (5 ranks in nodes of 2) do not share hier's parts evenly.
    const bool regular = comm.regular_nodes();
    for (AllreduceAlgo a : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
      if (ranks_per_node != 0 && a != AllreduceAlgo::kHier) continue;
      check_halves(comm, a, a != AllreduceAlgo::kHier || regular);
    }
  }
}

TEST_CASE("halves: algorithms without a reduce-scatter are refused by name", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  std::vector<float> v(10, 1.0f);
  for (AllreduceAlgo a : {AllreduceAlgo::kTree, AllreduceAlgo::kCentral, AllreduceAlgo::kMpi, AllreduceAlgo::kShm}) {
    CHECK_THROWS_WITH(reduce_scatter(comm, a, v.data(), 10), Catch::Contains(allreduce_name(a)));
    CHECK_THROWS_AS(all_gather(comm, a, v.data(), 10), UsageError);
  }
  CHECK_THROWS_WITH(check_reduce_scatter(AllreduceAlgo::kRhd, GradCompression::kBf16), Catch::Contains("rhd"));
  CHECK_THROWS_AS(parse_grad_compression("fp8"), UsageError);
}
