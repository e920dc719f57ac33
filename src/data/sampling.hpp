// How a training epoch's samples are divided among the ranks.
//
//   global  One seeded permutation of the split per epoch, the same on every
//           rank; it is cut into global batches and rank r reads its
//           contiguous slice of each. The steps are rank-count independent:
//           p ranks compute what one rank computes (bit-reproducible up to
//           summation order). Every rank may touch every shard.
//   local   Rank r owns a fixed set of whole shards, dealt so that the ranks'
//           sample counts are as even as possible (largest shard first, to
//           the rank with the fewest samples). Each epoch the rank visits its
//           own samples only: its blocks of kBlockRows consecutive rows in a
//           seeded order, and the samples inside each window of
//           `window_blocks` blocks shuffled. Memory and I/O per rank shrink
//           as 1/p, and a rank reads whole blocks (each once per epoch);
//           results depend on the rank count (the batches differ), and the
//           shuffle is coarser than global's: with many shards and a window
//           of several blocks, accuracy is close.
//
// Local sampling refuses a split where some rank would own no training
// sample (fewer shards than ranks), naming the remedy.
// Both read every sample of [0, n_train) exactly once per epoch. The global
// batch G is split over ranks as block_range(G, r, p); in local mode a rank
// that has run out of samples contributes none to the last steps.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace hpcnn::data {

enum class SamplingMode { kGlobal, kLocal };
const char* sampling_mode_name(SamplingMode mode);
/// "global" | "local"; UsageError otherwise.
SamplingMode parse_sampling_mode(const std::string& text);

/// The epoch's global permutation of [0, n), seeded by (seed, epoch) alone:
/// the same on every rank and for every world size (global mode's order).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

/// Local mode's shards of each rank: every shard to exactly one rank, the
/// ranks' sample counts balanced greedily. Deterministic.
std::vector<std::vector<int>> assign_shards(const SplitInfo& split, int world);

/// One rank's reading plan for one epoch.
class EpochPlan {
 public:
  /// `n_train`: samples [0, n_train) train (the rest is a held-out validation
  /// set); `global_batch`: samples per step over all ranks.
  EpochPlan(SamplingMode mode, const SplitInfo& split, int64_t n_train, int64_t global_batch, int rank, int world,
            uint64_t seed, int64_t epoch, int window_blocks = 4);

  /// Steps in the epoch: the same on every rank.
  int64_t steps() const { return steps_; }
  /// The epoch this plan is for.
  int64_t epoch() const { return epoch_; }
  /// This rank's samples at step s, in the order to read them (may be empty).
  std::span<const int64_t> step_indices(int64_t step) const;
  /// Samples over all ranks at step s (what the loss is averaged over).
  int64_t step_samples(int64_t step) const;
  /// Samples this rank reads in the epoch.
  int64_t local_count() const { return static_cast<int64_t>(order_.size()); }
  /// The shards this rank reads (all of them in global mode).
  const std::vector<int>& shards() const { return shards_; }

 private:
  SamplingMode mode_;
  int64_t global_batch_ = 0;
  int64_t epoch_ = 0;
  int rank_ = 0, world_ = 1;
  int64_t steps_ = 0;
  std::vector<int64_t> order_;       ///< this rank's samples in epoch order
  std::vector<int64_t> step_first_;  ///< step s reads order_[step_first_[s] .. step_first_[s + 1])
  std::vector<int64_t> step_samples_;
  std::vector<int> shards_;
};

}  // namespace hpcnn::data
