// A dataset directory: manifest.json plus HDF5 shard files, one set per split.
//
//   DIR/manifest.json                 what is in the dataset (docs/formats.md)
//   DIR/train-00000-of-00004.h5       split "train", shard 0 of 4
//   DIR/test-00000-of-00001.h5 ...
//
// Inside a shard: /samples (N, C, H, W) uint8 or float32, and /labels (N,)
// int32 for classification or /targets (N, T) float32 for regression. Every
// dataset is chunked along N with the Fletcher32 filter. Shards of a split are
// consecutive ranges of the split's global sample index, so the global index
// of a sample is shard.first_index + row. The manifest records each shard's
// sample count and SHA-256 so that `hpcnn data verify` can tell a damaged or
// swapped shard by name.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hpcnn::data {

enum class Task { kClassification, kRegression };
enum class SampleType { kUInt8, kFloat32 };

const char* task_name(Task task);
const char* sample_type_name(SampleType type);
size_t sample_type_size(SampleType type);

struct ShardInfo {
  std::string file;  ///< file name relative to the dataset directory
  int64_t num_samples = 0;
  int64_t first_index = 0;  ///< global index (within its split) of row 0
  std::string sha256;
};

struct SplitInfo {
  std::vector<ShardInfo> shards;
  int64_t num_samples() const;
};

inline constexpr int kManifestVersion = 1;
// Manifest limits (docs/formats.md): a manifest beyond them is rejected when
// loaded, naming the value, before anything is sized by it.
inline constexpr int64_t kMaxClasses = 65536;                    ///< num_classes
inline constexpr int64_t kMaxTargetDim = 65536;                  ///< target_dim
inline constexpr int64_t kMaxSampleElements = int64_t{1} << 30;  ///< C x H x W
inline constexpr size_t kMaxSplits = 64;                         ///< splits per dataset
inline constexpr size_t kMaxShards = 65536;                      ///< shards per split
inline constexpr int64_t kMaxSplitSamples = int64_t{1} << 40;    ///< samples per split
inline constexpr const char* kManifestName = "manifest.json";
inline constexpr const char* kSplitNames[] = {"train", "validation", "test"};

struct Manifest {
  std::string name;
  std::string source;  ///< where the data came from (paths, generator)
  Task task = Task::kClassification;
  SampleType sample_type = SampleType::kUInt8;
  std::array<int64_t, 3> sample_shape{1, 1, 1};  ///< (C, H, W)
  int num_classes = 0;                           ///< classification only
  std::vector<std::string> class_names;
  int target_dim = 0;              ///< regression only
  std::string target_description;  ///< regression only: what the target means, units
  nlohmann::json generator;        ///< generator parameters (synthetic data) or null
  std::map<std::string, SplitInfo> splits;

  int64_t sample_elements() const { return sample_shape[0] * sample_shape[1] * sample_shape[2]; }
  const SplitInfo& split(const std::string& split_name) const;

  nlohmann::json to_json() const;
  static Manifest from_json(const nlohmann::json& j, const std::string& origin);
};

/// Reads DIR/manifest.json; throws naming the directory when it is absent or malformed.
Manifest load_manifest(const std::filesystem::path& dir);
/// Writes DIR/manifest.json atomically.
void save_manifest(const std::filesystem::path& dir, const Manifest& manifest);

/// What --force may replace: nothing, an empty directory, or a directory whose
/// manifest.json says "hpcnn-dataset". Throws naming `dir` for anything else,
/// so a mistyped --out never deletes a home directory.
void require_replaceable_dataset(const std::filesystem::path& dir);

/// Checks each shard file of `splits` against the SHA-256 in the manifest;
/// throws naming the first shard that is missing or differs. Reads every byte:
/// training calls it once before the first epoch.
void verify_checksums(const std::filesystem::path& dir, const Manifest& manifest,
                      const std::vector<std::string>& splits);

/// Shard file name: "<split>-<index:05>-of-<count:05>.h5".
std::string shard_file_name(const std::string& split, int index, int count);

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

// ---- reading ----------------------------------------------------------------

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
