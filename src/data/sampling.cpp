// Training epochs: global and local sampling (see sampling.hpp).
#include "data/sampling.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"
#include "core/partition.hpp"
#include "core/rng.hpp"

namespace hpcnn::data {

const char* sampling_mode_name(SamplingMode mode) {
  switch (mode) {
    case SamplingMode::kGlobal: return "global";
    case SamplingMode::kLocal: return "local";
  }
  return "unknown";
}

SamplingMode parse_sampling_mode(const std::string& text) {
  if (text == "global") return SamplingMode::kGlobal;
  if (text == "local") return SamplingMode::kLocal;
  throw UsageError("--sampling must be global or local (got '" + text + "')");
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  Rng rng(derive_key({seed, 0x5348554646ULL /* "SHUFF" */, static_cast<uint64_t>(epoch)}));
  hpcnn::shuffle(std::span<int64_t>(perm), rng);
  return perm;
}

std::vector<std::vector<int>> assign_shards(const SplitInfo& split, int world) {
  HPCNN_CHECK(world >= 1, "bad world size ", world);
  std::vector<int> order(split.shards.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first (ties: lower index first), each to the least loaded rank (ties: lower rank).
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return split.shards[static_cast<size_t>(a)].num_samples > split.shards[static_cast<size_t>(b)].num_samples;
  });
  std::vector<std::vector<int>> owned(static_cast<size_t>(world));
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  for (int s : order) {
    const auto r = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owned[r].push_back(s);
    load[r] += split.shards[static_cast<size_t>(s)].num_samples;
  }
  for (auto& shards : owned) std::sort(shards.begin(), shards.end());
  return owned;
}

namespace {
/// Samples of `shards` below n_train.
int64_t owned_count(const SplitInfo& split, const std::vector<int>& shards, int64_t n_train) {
  int64_t n = 0;
  for (int s : shards) {
    const ShardInfo& info = split.shards[static_cast<size_t>(s)];
    n += std::clamp<int64_t>(n_train - info.first_index, 0, info.num_samples);
  }
  return n;
}
}  // namespace

EpochPlan::EpochPlan(SamplingMode mode, const SplitInfo& split, int64_t n_train, int64_t global_batch, int rank,
                     int world, uint64_t seed, int64_t epoch, int window_blocks)
    : mode_(mode), global_batch_(global_batch), epoch_(epoch), rank_(rank), world_(world) {
  HPCNN_CHECK(world >= 1 && rank >= 0 && rank < world, "bad rank ", rank, " of ", world);
  HPCNN_CHECK(global_batch >= world, "global batch ", global_batch, " is smaller than the ", world, " ranks");
  HPCNN_CHECK(n_train >= 0 && n_train <= split.num_samples(), "bad training range ", n_train);
  if (mode == SamplingMode::kGlobal) {
    for (int s = 0; s < static_cast<int>(split.shards.size()); ++s) shards_.push_back(s);
    std::vector<int64_t> perm = epoch_permutation(split.num_samples(), seed, epoch);
    if (n_train < split.num_samples()) std::erase_if(perm, [n_train](int64_t i) { return i >= n_train; });
    steps_ = (n_train + global_batch - 1) / global_batch;
    order_.reserve(static_cast<size_t>(n_train / world + global_batch));
    for (int64_t s = 0; s < steps_; ++s) {
      const int64_t first = s * global_batch;
      const int64_t len = std::min(global_batch, n_train - first);
      const auto [lo, hi] = block_range(len, rank, world);
      step_first_.push_back(static_cast<int64_t>(order_.size()));
      step_samples_.push_back(len);
      order_.insert(order_.end(), perm.begin() + first + lo, perm.begin() + first + hi);
    }
    step_first_.push_back(static_cast<int64_t>(order_.size()));
    return;
  }
  // Local: every rank can work out every rank's share, so all agree on the steps.
  const std::vector<std::vector<int>> owned = assign_shards(split, world);
  shards_ = owned[static_cast<size_t>(rank)];
  std::vector<int64_t> counts(static_cast<size_t>(world)), per_step(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    counts[static_cast<size_t>(r)] = owned_count(split, owned[static_cast<size_t>(r)], n_train);
    // A rank without training samples would step with an empty batch all
    // epoch while the log claims the full global batch (issue 26.6: 1 shard,
    // 2 ranks ran 16-sample steps under "global batch 32").
    HPCNN_CHECK(counts[static_cast<size_t>(r)] > 0, "--sampling local: the training data has ", split.shards.size(),
                " shard(s) for ", world, " ranks, so rank ", r,
                " would get no samples (local sampling gives each rank whole shards): write the dataset with "
                "--shards ",
                world, " or more (hpcnn data synth/import-* --shards N --force), or use --sampling global");
    const auto [lo, hi] = block_range(global_batch, r, world);
    per_step[static_cast<size_t>(r)] = hi - lo;
    steps_ = std::max(steps_, (counts[static_cast<size_t>(r)] + hi - lo - 1) / (hi - lo));
  }
  // This rank's blocks in a seeded order, then samples shuffled inside windows of blocks.
  struct Block {
    int64_t first, count;
  };
  std::vector<Block> blocks;
  for (int s : shards_) {
    const ShardInfo& info = split.shards[static_cast<size_t>(s)];
    const int64_t end = std::min(info.first_index + info.num_samples, n_train);
    for (int64_t at = info.first_index; at < end; at += kBlockRows)
      blocks.push_back({at, std::min(kBlockRows, end - at)});
  }
  Rng rng(derive_key({seed, 0x4c4f43414cULL /* "LOCAL" */, static_cast<uint64_t>(epoch), static_cast<uint64_t>(rank)}));
  hpcnn::shuffle(std::span<Block>(blocks), rng);
  const size_t window = static_cast<size_t>(std::max(window_blocks, 1));
  for (size_t w = 0; w < blocks.size(); w += window) {
    const size_t start = order_.size();
    for (size_t b = w; b < std::min(w + window, blocks.size()); ++b) {
      for (int64_t i = 0; i < blocks[b].count; ++i) order_.push_back(blocks[b].first + i);
    }
    hpcnn::shuffle(std::span<int64_t>(order_).subspan(start), rng);
  }
  const int64_t mine = per_step[static_cast<size_t>(rank)];
  const auto count = static_cast<int64_t>(order_.size());
  for (int64_t s = 0; s < steps_; ++s) {
    step_first_.push_back(std::min(s * mine, count));
    int64_t total = 0;
    for (int r = 0; r < world; ++r) {
      total += std::clamp<int64_t>(counts[static_cast<size_t>(r)] - s * per_step[static_cast<size_t>(r)], 0,
                                   per_step[static_cast<size_t>(r)]);
    }
    step_samples_.push_back(total);
  }
  step_first_.push_back(count);
}

std::span<const int64_t> EpochPlan::step_indices(int64_t step) const {
  HPCNN_CHECK(step >= 0 && step < steps_, "step ", step, " out of range [0, ", steps_, ")");
  const auto first = static_cast<size_t>(step_first_[static_cast<size_t>(step)]);
  const auto last = static_cast<size_t>(step_first_[static_cast<size_t>(step + 1)]);
  return std::span<const int64_t>(order_).subspan(first, last - first);
}

int64_t EpochPlan::step_samples(int64_t step) const {
  HPCNN_CHECK(step >= 0 && step < steps_, "step ", step, " out of range [0, ", steps_, ")");
  return step_samples_[static_cast<size_t>(step)];
}

}  // namespace hpcnn::data
