// The training input pipeline: global and local epoch plans (every sample
// exactly once per epoch, p = 1..8, uneven shards, a held-out tail), the
// block cache, and the background reader (bounded, errors named, stops).
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <numeric>

#include "core/error.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"
#include "data/prefetch.hpp"
#include "data/sampling.hpp"
#include "fixtures.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
using hpcnn::test::split_of;

namespace {
/// Every sample of [0, n_train) once per epoch over all ranks; the ranks
/// agree on the steps; step_samples is the sum of the ranks' slices.
void check_plan(SamplingMode mode, const SplitInfo& split, int64_t n_train, int64_t global_batch, int world) {
  if (mode == SamplingMode::kLocal) {
    // Local mode refuses a split where some rank owns no training sample.
    bool every_rank_has_data = true;
    for (const std::vector<int>& shards : assign_shards(split, world)) {
      int64_t n = 0;
      for (int s : shards) {
        const ShardInfo& info = split.shards[static_cast<size_t>(s)];
        n += std::clamp<int64_t>(n_train - info.first_index, 0, info.num_samples);
      }
      every_rank_has_data = every_rank_has_data && n > 0;
    }
    if (!every_rank_has_data) {
      CHECK_THROWS_WITH(EpochPlan(mode, split, n_train, global_batch, 0, world, 5, 1, 2),
                        Catch::Contains("would get no samples") && Catch::Contains("--sampling global"));
      return;
    }
  }
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    std::vector<int> seen(static_cast<size_t>(n_train), 0);
    std::vector<EpochPlan> plans;
    for (int r = 0; r < world; ++r) plans.emplace_back(mode, split, n_train, global_batch, r, world, 5, epoch, 2);
    for (const EpochPlan& p : plans) REQUIRE(p.steps() == plans[0].steps());
    for (int64_t s = 0; s < plans[0].steps(); ++s) {
      int64_t total = 0;
      for (const EpochPlan& p : plans) {
        for (int64_t i : p.step_indices(s)) {
          REQUIRE(i >= 0);
          REQUIRE(i < n_train);
          ++seen[static_cast<size_t>(i)];
        }
        total += static_cast<int64_t>(p.step_indices(s).size());
        CHECK(static_cast<int64_t>(p.step_indices(s).size()) <= global_batch);
      }
      CHECK(total == plans[0].step_samples(s));
      CHECK(total >= 1);
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
  }
}
}  // namespace

TEST_CASE("Epoch plans: every sample exactly once per epoch, p = 1..8, both modes", "[data-pipeline]") {
  const SplitInfo uneven = split_of({1500, 37, 1024, 2049, 5, 800});
  for (int world = 1; world <= 8; ++world) {
    for (SamplingMode mode : {SamplingMode::kGlobal, SamplingMode::kLocal}) {
      INFO("world " << world << " mode " << sampling_mode_name(mode));
      check_plan(mode, uneven, uneven.num_samples(), 64, world);
      check_plan(mode, uneven, uneven.num_samples() - 900, 8 * world + 3, world);  // a held-out tail
    }
  }
}

TEST_CASE("Epoch permutation: seeded per epoch, a permutation, whatever the world size", "[data-pipeline]") {
  const auto a = epoch_permutation(1000, 7, 0);
  CHECK(a == epoch_permutation(1000, 7, 0));
  CHECK(a != epoch_permutation(1000, 7, 1));
  CHECK(a != epoch_permutation(1000, 8, 0));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);
  // Global mode's ranks, their slices of each step joined, read the permutation for any p.
  for (int world : {1, 3, 8}) {
    std::vector<int64_t> joined;
    std::vector<EpochPlan> plans;
    for (int r = 0; r < world; ++r)
      plans.emplace_back(SamplingMode::kGlobal, split_of({1000}), 1000, 64, r, world, 7, 0);
    for (int64_t s = 0; s < plans[0].steps(); ++s) {
      for (const EpochPlan& p : plans) joined.insert(joined.end(), p.step_indices(s).begin(), p.step_indices(s).end());
    }
    CHECK(joined == a);
  }
}

TEST_CASE("Epoch plans: local mode with fewer shards than ranks is refused naming the remedy", "[data-pipeline]") {
  // issue 26.6: 1 shard, 2 ranks: rank 1 got no data and the epoch ran 16-sample steps under "global batch 32".
  const SplitInfo one = split_of({256});
  CHECK_THROWS_WITH(EpochPlan(SamplingMode::kLocal, one, 256, 32, 0, 2, 5, 1),
                    Catch::Contains("--sampling local: the training data has 1 shard(s) for 2 ranks, so rank 1") &&
                        Catch::Contains("--shards 2 or more") && Catch::Contains("or use --sampling global"));
  CHECK_NOTHROW(EpochPlan(SamplingMode::kGlobal, one, 256, 32, 1, 2, 5, 1));
  CHECK_NOTHROW(EpochPlan(SamplingMode::kLocal, split_of({128, 128}), 256, 32, 1, 2, 5, 1));
}

TEST_CASE("Epoch plans: global mode is the permutation cut into global batches", "[data-pipeline]") {
  const SplitInfo split = split_of({300, 200});
  const std::vector<int64_t> perm = epoch_permutation(500, 9, 3);
  const EpochPlan one(SamplingMode::kGlobal, split, 500, 64, 0, 1, 9, 3);
  const EpochPlan r1(SamplingMode::kGlobal, split, 500, 64, 1, 3, 9, 3);
  REQUIRE(one.steps() == 8);
  for (int64_t s = 0; s < 8; ++s) {
    const auto all = one.step_indices(s);
    CHECK(std::equal(all.begin(), all.end(), perm.begin() + s * 64));
    const int64_t len = std::min<int64_t>(64, 500 - s * 64);
    const auto [lo, hi] = block_range(len, 1, 3);
    const auto mine = r1.step_indices(s);
    CHECK(std::equal(mine.begin(), mine.end(), perm.begin() + s * 64 + lo, perm.begin() + s * 64 + hi));
    CHECK(r1.step_samples(s) == len);
  }
}

TEST_CASE("Epoch plans: local mode reads only the rank's shards, in whole blocks", "[data-pipeline]") {
  const SplitInfo split = split_of({4096, 1000, 3000, 2100});
  const auto owned = assign_shards(split, 2);
  CHECK(owned[0] == std::vector<int>{0, 1});  // 4096 + 1000 against 3000 + 2100
  CHECK(owned[1] == std::vector<int>{2, 3});
  const EpochPlan p(SamplingMode::kLocal, split, split.num_samples(), 256, 1, 2, 5, 1, 1);
  CHECK(p.shards() == std::vector<int>{2, 3});
  CHECK(p.local_count() == 5100);
  // Window of one block: consecutive samples come from one block of kBlockRows rows.
  std::vector<int64_t> order;
  for (int64_t s = 0; s < p.steps(); ++s) order.insert(order.end(), p.step_indices(s).begin(), p.step_indices(s).end());
  REQUIRE(order.size() == 5100);
  const auto block_of = [&](int64_t i) {
    const int shard = i < 8096 ? 2 : 3;
    return std::make_pair(shard, (i - split.shards[static_cast<size_t>(shard)].first_index) / kBlockRows);
  };
  int changes = 0;
  for (size_t k = 1; k < order.size(); ++k) changes += block_of(order[k]) != block_of(order[k - 1]) ? 1 : 0;
  CHECK(changes == 5);  // 3 blocks of shard 2, 3 of shard 3: 6 blocks, 5 changes
  // Another epoch, another order; the same epoch, the same order.
  const EpochPlan again(SamplingMode::kLocal, split, split.num_samples(), 256, 1, 2, 5, 1, 1);
  const EpochPlan next(SamplingMode::kLocal, split, split.num_samples(), 256, 1, 2, 5, 2, 1);
  CHECK(std::equal(again.step_indices(0).begin(), again.step_indices(0).end(), p.step_indices(0).begin()));
  CHECK_FALSE(std::equal(next.step_indices(0).begin(), next.step_indices(0).end(), p.step_indices(0).begin()));
  CHECK_THROWS_AS(parse_sampling_mode("random"), UsageError);
}

namespace {
Manifest toy_manifest() {
  Manifest m;
  m.name = "toy";
  m.task = Task::kClassification;
  m.sample_type = SampleType::kUInt8;
  m.sample_shape = {1, 2, 2};
  m.num_classes = 7;
  m.class_names = {"a", "b", "c", "d", "e", "f", "g"};
  return m;
}
/// Pixel e of sample i: (i * 4 + e) mod 251; label i mod 7.
void fill_toy(SampleBlock& b) {
  for (int64_t i = 0; i < b.count; ++i) {
    const int64_t g = b.first_index + i;
    for (int e = 0; e < 4; ++e) b.samples_u8[static_cast<size_t>(i * 4 + e)] = static_cast<uint8_t>((g * 4 + e) % 251);
    b.labels[static_cast<size_t>(i)] = static_cast<int32_t>(g % 7);
  }
}
}  // namespace

TEST_CASE("SplitReader: the block cache reads what direct reads read, each block once", "[data-pipeline]") {
  test::ScratchDir dir("blocks");
  Manifest m = toy_manifest();
  WriteOptions opt;
  opt.num_shards = 2;
  write_split(dir.path(), m, "train", 3000, opt, fill_toy);
  SplitReader direct(dir.path(), m, "train");
  SplitReader cached(dir.path(), m, "train");
  cached.set_block_cache(int64_t{1} << 30);
  const EpochPlan plan(SamplingMode::kLocal, m.split("train"), 3000, 100, 0, 1, 3, 1, 2);
  Batch a, b;
  for (int64_t s = 0; s < plan.steps(); ++s) {
    direct.read(plan.step_indices(s), a);
    cached.read(plan.step_indices(s), b);
    REQUIRE(a.samples == b.samples);
    REQUIRE(a.labels == b.labels);
  }
  CHECK(cached.bytes_read() == 3000 * cached.bytes_per_sample());  // every block once
  CHECK(direct.bytes_read() == 3000 * direct.bytes_per_sample());
  // A cache smaller than one block still works: it keeps the block just read.
  SplitReader tiny(dir.path(), m, "train");
  tiny.set_block_cache(1);
  const std::vector<int64_t> idx{5, 2999, 6};
  tiny.read(idx, b);
  direct.read(idx, a);
  CHECK(a.samples == b.samples);
}

TEST_CASE("Prefetcher: batches in step order, a bounded queue, errors named, clean stops", "[data-pipeline]") {
  test::ScratchDir dir("prefetch");
  Manifest m = toy_manifest();
  WriteOptions opt;
  opt.num_shards = 3;
  write_split(dir.path(), m, "train", 900, opt, fill_toy);
  const EpochPlan plan(SamplingMode::kGlobal, m.split("train"), 900, 32, 0, 1, 4, 1);
  {
    SplitReader reader(dir.path(), m, "train");
    SplitReader check(dir.path(), m, "train");
    Prefetcher pf(reader, plan, 3, 2);
    Batch got, want;
    for (int64_t s = 3; s < plan.steps(); ++s) {
      const Prefetcher::Taken t = pf.take(got);
      CHECK(t.queue_depth >= 1);
      CHECK(t.queue_depth <= 2);  // never more than --prefetch batches waiting
      {
        // libhdf5 is not thread-safe: HDF5 calls beside a live Prefetcher hold its lock.
        std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
        check.read(plan.step_indices(s), want);
      }
      REQUIRE(got.indices == want.indices);
      REQUIRE(got.samples == want.samples);
    }
    CHECK_THROWS_WITH(pf.take(got), Catch::Contains("no step left"));
  }
  {
    // Stopped early (an exception elsewhere): the destructor ends the thread.
    SplitReader reader(dir.path(), m, "train");
    Prefetcher pf(reader, plan, 0, 4);
    Batch got;
    pf.take(got);
  }
  // A shard damaged on disk mid-epoch: the next take() names it.
  const std::string bad = m.split("train").shards[2].file;
  { std::ofstream(dir / bad, std::ios::binary | std::ios::trunc) << "not an HDF5 file any more"; }
  SplitReader reader(dir.path(), m, "train");
  Prefetcher pf(reader, plan, 0, 2);
  Batch got;
  bool thrown = false;
  for (int64_t s = 0; s < plan.steps() && !thrown; ++s) {
    try {
      pf.take(got);
    } catch (const Error& e) {
      thrown = true;
      CHECK_THAT(e.what(), Catch::Contains(bad));
    }
  }
  CHECK(thrown);
}
