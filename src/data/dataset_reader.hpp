// Reading a split of a dataset: samples by global index, with optional
// preloading and a block cache (dataset.hpp has the layout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset_manifest.hpp"

namespace hpcnn::data {

/// What one stored 8-bit value becomes at the model's input: v * (1/255) in
/// float. Training, evaluation, `hpcnn predict` and `hpcnn serve` all convert
/// through uint8_to_input, so a drawn image meets the model on the same scale,
/// bit for bit, as the dataset it was trained on.
inline constexpr float kUint8InputScale = 1.0f / 255.0f;

/// dst[k] = src[k] * scale for k < count (scale 1 keeps the raw 0..255).
inline void uint8_to_input(const uint8_t* src, size_t count, float* dst, float scale = kUint8InputScale) {
  for (size_t k = 0; k < count; ++k) dst[k] = static_cast<float>(src[k]) * scale;
}

/// Samples read into host memory: `samples` is (n, C, H, W) float32 with uint8
/// data scaled to [0, 1] when `scale_uint8` (raw 0..255 otherwise), through
/// uint8_to_input.
struct Batch {
  int64_t count = 0;
  std::vector<float> samples;
  std::vector<int32_t> labels;   ///< classification
  std::vector<float> targets;    ///< regression: count * target_dim
  std::vector<int64_t> indices;  ///< global sample indices, in batch order
};

/// Rows per block: the unit a local-sampling epoch visits and the block cache
/// reads (the chunk size write_split uses by default).
inline constexpr int64_t kBlockRows = 1024;

/// Opens every shard of one split and reads samples by global index. Shards
/// are opened lazily so a rank touches only the files it reads.
class SplitReader {
 public:
  SplitReader(std::filesystem::path dir, Manifest manifest, std::string split, bool scale_uint8 = true);
  ~SplitReader();
  SplitReader(SplitReader&&) noexcept;
  SplitReader& operator=(SplitReader&&) noexcept;

  const Manifest& manifest() const { return manifest_; }
  const std::string& split() const { return split_; }
  int64_t num_samples() const { return num_samples_; }

  /// Reads the given global indices (any order, no duplicates needed) into
  /// `out`, in the order given. Consecutive indices are read as one hyperslab.
  void read(std::span<const int64_t> indices, Batch& out);
  /// Loads whole shards into memory (after checking them as read() does);
  /// later reads of their samples are memory copies. Training calls this for
  /// the shards its rank owns when they fit in memory.
  void preload(std::span<const int> shards);
  /// Bytes a preload of these shards would take.
  int64_t preload_bytes(std::span<const int> shards) const;
  /// Reads shards that are not preloaded through a cache of whole blocks of
  /// kBlockRows rows (at most `max_bytes`, the least recently used dropped),
  /// each read from storage in one piece: for orders that visit samples block
  /// by block (local sampling). Shards opened afterwards get a small HDF5
  /// chunk cache, since blocks are read whole. 0 turns it off.
  void set_block_cache(int64_t max_bytes);
  /// The HDF5 chunk cache of each shard opened from now on (default 64 MiB).
  void set_chunk_cache_bytes(size_t bytes) { chunk_cache_bytes_ = bytes; }
  /// Bytes of one stored sample with its label or target.
  int64_t bytes_per_sample() const;
  /// Bytes read from storage so far (sample and label data; preloads included).
  int64_t bytes_read() const { return bytes_read_; }
  /// Reads raw uint8 samples (uint8 datasets only), for byte-exact checks.
  void read_raw_u8(int64_t first, int64_t count, std::vector<uint8_t>& out);
  /// Which shard holds global index `index`, and its row there.
  std::pair<int, int64_t> locate(int64_t index) const;

 private:
  struct OpenShard;
  struct Block;
  OpenShard& shard(int s);
  /// Block b of shard s, read whole on a miss (block cache on).
  const Block& block(int s, int64_t b);
  /// Drops least recently used blocks while the cache holds over `max_bytes`,
  /// keeping at least `keep` blocks.
  void evict_blocks(int64_t max_bytes, size_t keep);

  std::filesystem::path dir_;
  Manifest manifest_;
  std::string split_;
  bool scale_uint8_;
  int64_t num_samples_ = 0;
  std::vector<std::unique_ptr<OpenShard>> open_;
  size_t chunk_cache_bytes_ = size_t{64} << 20;
  int64_t bytes_read_ = 0;
  int64_t block_cache_max_ = 0;                 ///< bytes; 0: off
  int64_t block_cache_bytes_ = 0;               ///< held now
  std::vector<std::unique_ptr<Block>> blocks_;  ///< cached blocks, least recently used first
};

}  // namespace hpcnn::data
