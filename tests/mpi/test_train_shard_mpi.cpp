// comm::scatter_shard from one rank (issue 30, the trainer's resume of a
// sharded run): each rank gets exactly its slices of root's full vector, the
// same as the local scatter_shard of the whole vector, for ring, rhd and hier
// slices of an uneven buffer, whichever rank is root; a root whose vector has
// the wrong length, or a slice outside it, throws on every rank (no hang).
#include <mpi.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "comm/gradient_reducer.hpp"
#include "comm/shard_state.hpp"
#include "core/error.hpp"

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

/// Two passes of `gatherer` over `n` floats: each pass poisons the buffer,
/// then for every block runs `before_mark(b)` (a sleep: the optimizer at
/// work, or one rank late), writes this rank's slice of block b and marks it
/// ready; after finish() every rank must hold every rank's slices, bitwise
/// (a gatherer that sent a slice before its mark would spread the poison).
/// Then an out-of-order mark and an unfinished pass are refused.
template <class BeforeMark>
void check_gatherer_passes(SliceGatherer& gatherer, const std::vector<Range>& slices, int64_t n,
                           const BeforeMark& before_mark) {
  const float poison = -12345.0f;
  REQUIRE(gatherer.num_blocks() == static_cast<int64_t>(slices.size()));
  std::vector<float> data(static_cast<size_t>(n));
  for (int pass = 0; pass < 2; ++pass) {
    INFO("pass " << pass);
    std::fill(data.begin(), data.end(), poison);
    gatherer.begin(data.data());
    for (int64_t b = 0; b < gatherer.num_blocks(); ++b) {
      before_mark(b);
      const auto [lo, hi] = slices[static_cast<size_t>(b)];
      for (int64_t i = lo; i < hi; ++i) data[static_cast<size_t>(i)] = static_cast<float>(i) + 0.25f * float(pass);
      gatherer.ready(b);
    }
    CHECK(gatherer.finish() >= 0.0);
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; ++i)
      wrong += data[static_cast<size_t>(i)] != static_cast<float>(i) + 0.25f * float(pass);
    CHECK(wrong == 0);
  }
  gatherer.begin(data.data());
  if (gatherer.num_blocks() > 1) CHECK_THROWS_WITH(gatherer.ready(1), Catch::Contains("expected block 0"));
  CHECK_THROWS_WITH(gatherer.finish(), Catch::Contains("never marked ready"));
  for (int64_t b = 0; b < gatherer.num_blocks(); ++b) gatherer.ready(b);
  gatherer.finish();
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

// Issue 30: rank 0 writes a sharded optimizer's state window by window as it
// arrives from the slices' owners (gather_shard_windows), never holding the
// full vector. The windows put together must be gather_shard's vector
// bitwise, in ascending order, whatever the window size against the blocks
// (smaller than a slice, across slice and block bounds, the whole vector);
// a sink that throws is rethrown on root after every window was received
// (the other ranks return: nobody hangs), and an empty vector is one call.
TEST_CASE("gather_shard_windows hands root the gathered vector window by window in order", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  const int64_t n = 2 * kReduceBlock + 12345;  // a short first block
  std::vector<float> full(static_cast<size_t>(n));
  std::iota(full.begin(), full.end(), 0.5f);
  for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
    const std::vector<Range> slices = slices_of(comm, algo, n);
    const std::vector<float> mine = scatter_shard(full, slices);
    for (int root : {0, comm.size() - 1}) {
      for (const int64_t window : {int64_t{1000}, int64_t{12345}, kReduceBlock, n + 7}) {
        INFO(allreduce_name(algo) << ", root " << root << ", window " << window);
        std::vector<float> got;
        int calls = 0;
        bool ordered = true;
        gather_shard_windows(
            comm, slices, mine, n, window,
            [&](int64_t first, std::span<const float> values) {
              ordered = ordered && first == static_cast<int64_t>(got.size()) &&
                        static_cast<int64_t>(values.size()) == std::min(window, n - first);
              got.insert(got.end(), values.begin(), values.end());
              ++calls;
            },
            root);
        if (comm.rank() != root) {
          CHECK(calls == 0);
          continue;
        }
        CHECK(ordered);
        CHECK(calls == (n + window - 1) / window);
        REQUIRE(got.size() == full.size());
        CHECK(std::memcmp(got.data(), full.data(), full.size() * sizeof(float)) == 0);
      }
    }
    // A sink that fails at its second window: rethrown on root only, after
    // the remaining windows were drained (the next collective still pairs).
    int calls = 0;
    const auto failing = [&](int64_t, std::span<const float>) {
      if (++calls == 2) HPCNN_THROW("disk full");
    };
    if (comm.rank() == 0) {
      CHECK_THROWS_WITH(gather_shard_windows(comm, slices, mine, n, 1000, failing), Catch::Contains("disk full"));
      CHECK(calls == 2);
    } else {
      CHECK_NOTHROW(gather_shard_windows(comm, slices, mine, n, 1000, failing));
    }
    const std::vector<float> again = gather_shard(comm, slices, mine, n);
    if (comm.rank() == 0) CHECK(std::memcmp(again.data(), full.data(), full.size() * sizeof(float)) == 0);
  }
  int empty_calls = 0;
  gather_shard_windows(comm, std::vector<Range>{}, std::vector<float>{}, 0, 1000,
                       [&](int64_t first, std::span<const float> values) {
                         CHECK(first == 0);
                         CHECK(values.empty());
                         ++empty_calls;
                       });
  CHECK(empty_calls == (comm.rank() == 0 ? 1 : 0));
}

// Issue 30, the sharded all-gather pipelined with the optimizer
// (comm::BlockGatherer, train/weight_update.cpp): each rank writes its slice
// of block b and only then marks it ready, late (a sleep first), while the
// gatherer's thread gathers the blocks already marked. Every rank must end
// with every rank's slices, bitwise, for ring, rhd and hier, over an uneven
// buffer, pass after pass: a gatherer that gathered a block before it was
// marked ready would send the poison still in this rank's slice (and at
// each mark no block at or after it may have been gathered yet).
TEST_CASE("pipelined all-gather never gathers a block before its slice is marked ready", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  const int64_t n = 3 * kReduceBlock + 4321;  // a short first block, four in all
  for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
    INFO(allreduce_name(algo));
    const std::vector<Range> slices = slices_of(comm, algo, n);
    BlockGatherer gatherer(comm, algo, n);
    bool early = false;
    check_gatherer_passes(gatherer, slices, n, [&](int64_t b) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3));  // the optimizer at work on block b
      early = early || gatherer.gathered() > b;
    });
    CHECK_FALSE(early);
    CHECK(gatherer.gathered() == gatherer.num_blocks());  // the last pass, whole
  }
}

// Issue 30, brief zstep item 2: inside one node the sharded all-gather goes
// by messages from the caller's thread (comm::DirectGatherer): block b's
// slice leaves only when marked ready, every other rank's slices arrive in
// place. As above, the poison left in a slice before it is written must
// never reach another rank, for ring, rhd and hier slices, on real and
// pretend nodes, pass after pass; out of order is refused.
TEST_CASE("direct all-gather sends a block's slice only once it is marked ready", "[mpi][shard]") {
  const int64_t n = 3 * kReduceBlock + 4321;  // a short first block, four in all
  for (const int ranks_per_node : {0, 2}) {
    Communicator comm(MPI_COMM_WORLD, ranks_per_node);
    for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
      INFO(allreduce_name(algo) << ", " << comm.num_nodes() << " nodes");
      const std::vector<Range> slices = slices_of(comm, algo, n);
      DirectGatherer gatherer(comm, slices, n);
      check_gatherer_passes(gatherer, slices, n, [&](int64_t) {
        if (comm.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // one rank late
      });
    }
  }
}

// Slices that do not tile a block (here: every rank claims the whole of it)
// are refused at construction on every rank alike, before any message moves.
TEST_CASE("direct all-gather refuses slices that do not tile the blocks on every rank", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  const int64_t n = kReduceBlock + 10;
  const BlockSchedule blocks(n);
  std::vector<Range> whole;
  for (int64_t b = 0; b < blocks.num_blocks(); ++b) whole.emplace_back(blocks.block_start(b), blocks.block_end(b));
  if (comm.size() == 1) {
    CHECK_NOTHROW(DirectGatherer(comm, whole, n));
  } else {
    CHECK_THROWS_WITH(DirectGatherer(comm, whole, n), Catch::Contains("overlap or leave a gap"));
  }
  CHECK_THROWS_WITH(DirectGatherer(comm, std::vector<Range>{}, n), Catch::Contains("0 slices for 2 blocks"));
}
