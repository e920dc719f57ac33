// Sharding property: for p = 1..8 ranks and uneven counts, every sample of a
// split is read by exactly one rank per epoch, in both sharding modes.
#include <catch2/catch.hpp>
#include <numeric>
#include <set>

#include "core/error.hpp"
#include "core/partition.hpp"
#include "data/sampler.hpp"
#include "test_helpers.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
using hpcnn::test::split_of;

namespace {
void check_exactly_once(const SplitInfo& split, ShardingMode mode, int world, bool shuffle) {
  const int64_t n = split.num_samples();
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int> seen(static_cast<size_t>(n), 0);
    int64_t min_count = n, max_count = 0;
    for (int r = 0; r < world; ++r) {
      const Sampler sampler(split, mode, r, world, 1234, shuffle);
      const auto mine = sampler.epoch_indices(epoch);
      REQUIRE(static_cast<int64_t>(mine.size()) == sampler.local_count());
      min_count = std::min<int64_t>(min_count, static_cast<int64_t>(mine.size()));
      max_count = std::max<int64_t>(max_count, static_cast<int64_t>(mine.size()));
      for (int64_t i : mine) {
        REQUIRE(i >= 0);
        REQUIRE(i < n);
        ++seen[static_cast<size_t>(i)];
      }
    }
    for (int64_t i = 0; i < n; ++i) REQUIRE(seen[static_cast<size_t>(i)] == 1);
    if (mode == ShardingMode::kHyperslab) CHECK(max_count - min_count <= 1);  // balanced to one sample
  }
}
}  // namespace

TEST_CASE("Sampler: every sample exactly once for p = 1..8, uneven counts, both modes", "[sampler]") {
  const SplitInfo uneven = split_of({17, 5, 11, 3, 9, 13, 2, 7, 1});  // 68 samples in 9 uneven shards
  for (int world = 1; world <= 8; ++world) {
    for (bool shuffle : {false, true}) {
      INFO("world " << world << " shuffle " << shuffle);
      check_exactly_once(uneven, ShardingMode::kHyperslab, world, shuffle);
      check_exactly_once(uneven, ShardingMode::kShardPerRank, world, shuffle);
    }
  }
  // Sample counts that do not divide evenly, including fewer samples than ranks.
  for (int64_t n : {1, 7, 9, 61, 1000003}) {
    for (int world = 1; world <= 8; ++world) {
      const SplitInfo one_file = split_of({n});
      INFO("n " << n << " world " << world);
      if (n > 100000 && world > 2) continue;  // the large case once is enough
      check_exactly_once(one_file, ShardingMode::kHyperslab, world, true);
    }
  }
}

TEST_CASE("Sampler: hyperslab mode without shuffle gives contiguous blocks", "[sampler]") {
  const SplitInfo split = split_of({10});
  const auto r1 = Sampler(split, ShardingMode::kHyperslab, 1, 3, 0, false).epoch_indices(0);
  CHECK(r1 == std::vector<int64_t>{4, 5, 6});  // blocks of 4, 3, 3
  CHECK(block_range(10, 0, 3) == std::pair<int64_t, int64_t>{0, 4});
  CHECK(block_range(10, 2, 3) == std::pair<int64_t, int64_t>{7, 10});
  CHECK(block_range(2, 3, 4) == std::pair<int64_t, int64_t>{2, 2});  // a rank with nothing
  CHECK_THROWS(rank_block(10, 3, 3));
}

TEST_CASE("Sampler: shard-per-rank reads only the rank's own shards", "[sampler]") {
  const SplitInfo split = split_of({3, 4, 5, 6, 7});
  const Sampler r1(split, ShardingMode::kShardPerRank, 1, 2, 9);
  CHECK(r1.shards() == std::vector<int>{1, 3});
  const auto mine = r1.epoch_indices(0);
  std::set<int64_t> expected;
  for (int64_t i = 3; i < 7; ++i) expected.insert(i);    // shard 1
  for (int64_t i = 12; i < 18; ++i) expected.insert(i);  // shard 3
  CHECK(std::set<int64_t>(mine.begin(), mine.end()) == expected);
  CHECK_THROWS_WITH(Sampler(split, ShardingMode::kShardPerRank, 0, 6, 9), Catch::Contains("5 shard(s) for 6 ranks"));
}

TEST_CASE("Sampler: the global shuffle is seeded, per epoch, and independent of world size", "[sampler]") {
  const auto a = epoch_permutation(1000, 7, 0);
  CHECK(a == epoch_permutation(1000, 7, 0));
  CHECK(a != epoch_permutation(1000, 7, 1));
  CHECK(a != epoch_permutation(1000, 8, 0));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);
  // Concatenating the ranks' hyperslab blocks gives the same global order for any p.
  const SplitInfo split = split_of({1000});
  for (int world : {1, 3, 8}) {
    std::vector<int64_t> joined;
    for (int r = 0; r < world; ++r) {
      const auto mine = Sampler(split, ShardingMode::kHyperslab, r, world, 7).epoch_indices(0);
      joined.insert(joined.end(), mine.begin(), mine.end());
    }
    CHECK(joined == a);
  }
  // Shard-per-rank ranks see their own samples in the global order too.
  const auto r0 = Sampler(split_of({500, 500}), ShardingMode::kShardPerRank, 0, 2, 7).epoch_indices(0);
  std::vector<int64_t> filtered;
  for (int64_t i : a)
    if (i < 500) filtered.push_back(i);
  CHECK(r0 == filtered);
}

TEST_CASE("Sampler: bad arguments are errors", "[sampler][bad-input]") {
  CHECK_THROWS_AS(parse_sharding_mode("round-robin"), UsageError);
  CHECK(parse_sharding_mode("hyperslab") == ShardingMode::kHyperslab);
  CHECK_THROWS(Sampler(split_of({4}), ShardingMode::kHyperslab, 2, 2, 0));
}
