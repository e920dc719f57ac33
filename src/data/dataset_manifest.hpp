// The dataset manifest (DIR/manifest.json, docs/formats.md): what a dataset
// holds, its limits, its shard files and their checksums. dataset.hpp has the
// layout of a dataset directory.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
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

}  // namespace hpcnn::data
