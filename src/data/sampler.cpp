// Epoch permutations and rank partitions.
#include "data/sampler.hpp"

#include <numeric>

#include "core/error.hpp"
#include "core/partition.hpp"
#include "core/rng.hpp"

namespace hpcnn::data {

const char* sharding_mode_name(ShardingMode mode) {
  switch (mode) {
    case ShardingMode::kShardPerRank: return "shard";
    case ShardingMode::kHyperslab: return "hyperslab";
  }
  return "unknown";
}

ShardingMode parse_sharding_mode(const std::string& text) {
  if (text == "shard") return ShardingMode::kShardPerRank;
  if (text == "hyperslab") return ShardingMode::kHyperslab;
  throw UsageError("unknown sharding mode '" + text + "' (expected shard or hyperslab)");
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  if (shuffle) {
    Rng rng(derive_key({seed, 0x5348554646ULL /* "SHUFF" */, static_cast<uint64_t>(epoch)}));
    hpcnn::shuffle(std::span<int64_t>(perm), rng);
  }
  return perm;
}

std::pair<int64_t, int64_t> rank_block(int64_t n, int rank, int world) {
  HPCNN_CHECK(world >= 1 && rank >= 0 && rank < world, "bad rank ", rank, " of ", world);
  return block_range(n, rank, world);
}

Sampler::Sampler(const SplitInfo& split, ShardingMode mode, int rank, int world, uint64_t seed, bool shuffle)
    : split_(split), mode_(mode), rank_(rank), world_(world), seed_(seed), shuffle_(shuffle) {
  HPCNN_CHECK(world >= 1 && rank >= 0 && rank < world, "bad rank ", rank, " of ", world);
  const int num_shards = static_cast<int>(split_.shards.size());
  const int64_t n = split_.num_samples();
  if (mode_ == ShardingMode::kHyperslab) {
    for (int s = 0; s < num_shards; ++s) shards_.push_back(s);
    const auto [first, last] = rank_block(n, rank, world);
    local_count_ = last - first;
    return;
  }
  HPCNN_CHECK(num_shards >= world, "shard-per-rank reading needs at least one shard per rank: the split has ",
              num_shards, " shard(s) for ", world, " ranks (re-import with --shards ", world,
              " or read in hyperslab mode)");
  owned_.assign(static_cast<size_t>(n), 0);
  for (int s = rank; s < num_shards; s += world) {
    shards_.push_back(s);
    const ShardInfo& shard = split_.shards[static_cast<size_t>(s)];
    std::fill_n(owned_.begin() + shard.first_index, shard.num_samples, uint8_t{1});
    local_count_ += shard.num_samples;
  }
}

std::vector<int64_t> Sampler::epoch_indices(int64_t epoch) const {
  std::vector<int64_t> perm = epoch_permutation(split_.num_samples(), seed_, epoch, shuffle_);
  if (mode_ == ShardingMode::kHyperslab) {
    const auto [first, last] = rank_block(static_cast<int64_t>(perm.size()), rank_, world_);
    return {perm.begin() + first, perm.begin() + last};
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(local_count_));
  for (int64_t i : perm) {
    if (owned_[static_cast<size_t>(i)] != 0) mine.push_back(i);
  }
  return mine;
}

}  // namespace hpcnn::data
