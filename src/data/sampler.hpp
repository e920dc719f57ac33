// Who reads what: partitioning a split across p ranks, with a seeded shuffle.
//
// Every epoch has one global permutation of the split's sample indices,
// derived from (seed, epoch) alone, so it is the same on every rank and for
// every world size. Two ways to divide it:
//
//  - kShardPerRank: rank r owns the whole shard files s with s % p == r and
//    sees its samples in global-permutation order. Each rank opens only its
//    own files. Needs at least p shards; shard sizes may differ.
//  - kHyperslab: one-file-many-readers. Rank r takes the r-th contiguous block
//    of the permutation (the first N % p ranks get one sample more); with the
//    shuffle off that block is a contiguous hyperslab of rows.
//
// Either way every sample is read by exactly one rank per epoch.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.hpp"

namespace hpcnn::data {

enum class ShardingMode { kShardPerRank, kHyperslab };

const char* sharding_mode_name(ShardingMode mode);
/// Parses "shard" / "hyperslab"; throws UsageError otherwise.
ShardingMode parse_sharding_mode(const std::string& text);

/// The epoch's global permutation of [0, n) (identity when !shuffle).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

/// Rank `rank`'s contiguous block [first, last) of n items over `world` ranks
/// (checks its arguments; see core/partition.hpp).
std::pair<int64_t, int64_t> rank_block(int64_t n, int rank, int world);

class Sampler {
 public:
  Sampler(const SplitInfo& split, ShardingMode mode, int rank, int world, uint64_t seed, bool shuffle = true);

  /// This rank's global indices for `epoch`, in the order to visit them.
  std::vector<int64_t> epoch_indices(int64_t epoch) const;
  /// How many samples this rank reads per epoch.
  int64_t local_count() const { return local_count_; }
  /// The shard files this rank opens (all of them in hyperslab mode).
  const std::vector<int>& shards() const { return shards_; }

 private:
  SplitInfo split_;
  ShardingMode mode_;
  int rank_;
  int world_;
  uint64_t seed_;
  bool shuffle_;
  int64_t local_count_ = 0;
  std::vector<int> shards_;
  std::vector<uint8_t> owned_;  ///< shard-per-rank: owned_[i] != 0 when index i is ours
};

}  // namespace hpcnn::data
