// Writing a split of a dataset as HDF5 shard files (dataset.hpp has the layout).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>

#include "data/dataset_manifest.hpp"

namespace hpcnn::data {

/// A block of consecutive samples handed to a writer callback. Exactly one of
/// `labels` / `targets` is non-empty, matching the manifest's task.
struct SampleBlock {
  int64_t first_index = 0;  ///< global index of the block's first sample
  int64_t count = 0;
  std::span<uint8_t> samples_u8;  ///< count * sample_elements, when uint8
  std::span<float> samples_f32;   ///< count * sample_elements, when float32
  std::span<int32_t> labels;      ///< count
  std::span<float> targets;       ///< count * target_dim
};

/// Fills one block of samples; called with increasing first_index.
using BlockFiller = std::function<void(SampleBlock&)>;

struct WriteOptions {
  int num_shards = 1;
  int64_t block_samples = 4096;  ///< samples produced and written per callback
  int64_t chunk_samples = 1024;  ///< HDF5 chunk rows along N
  int deflate_level = 0;         ///< 0 keeps reads fast; 1..9 trades speed for size
};

/// Writes `num_samples` samples of split `split` into `dir` as shard files,
/// updating manifest.splits[split]. `fill` produces the data block by block.
/// `progress(done, total)` is called after each block, when set.
void write_split(const std::filesystem::path& dir, Manifest& manifest, const std::string& split, int64_t num_samples,
                 const WriteOptions& options, const BlockFiller& fill,
                 const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace hpcnn::data
