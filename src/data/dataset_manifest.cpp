// The manifest: JSON in and out, its limits, checksums, shard file names.
#include "data/dataset_manifest.hpp"

#include <cstdio>
#include <filesystem>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sha256.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace hpcnn::data {

const char* task_name(Task task) { return task == Task::kClassification ? "classification" : "regression"; }
const char* sample_type_name(SampleType type) { return type == SampleType::kUInt8 ? "uint8" : "float32"; }
size_t sample_type_size(SampleType type) { return type == SampleType::kUInt8 ? 1 : 4; }

int64_t SplitInfo::num_samples() const {
  int64_t n = 0;
  for (const ShardInfo& s : shards) n += s.num_samples;
  return n;
}

const SplitInfo& Manifest::split(const std::string& split_name) const {
  auto it = splits.find(split_name);
  if (it == splits.end()) {
    std::string have;
    for (const auto& [k, v] : splits) have += (have.empty() ? "" : ", ") + k;
    HPCNN_THROW("dataset '", name, "' has no split '", split_name, "' (it has: ", have, ")");
  }
  return it->second;
}

json Manifest::to_json() const {
  json j;
  j["format"] = "hpcnn-dataset";
  j["version"] = kManifestVersion;
  j["name"] = name;
  j["source"] = source;
  j["task"] = task_name(task);
  j["sample_dtype"] = sample_type_name(sample_type);
  j["sample_shape"] = {sample_shape[0], sample_shape[1], sample_shape[2]};
  j["layout"] = "NCHW";
  if (task == Task::kClassification) {
    j["num_classes"] = num_classes;
    j["class_names"] = class_names;
  } else {
    j["target_dim"] = target_dim;
    j["target_description"] = target_description;
  }
  j["generator"] = generator;
  json splits_json = json::object();
  for (const auto& [split_name, split] : splits) {
    json shards = json::array();
    for (const ShardInfo& s : split.shards) {
      shards.push_back(
          {{"file", s.file}, {"num_samples", s.num_samples}, {"first_index", s.first_index}, {"sha256", s.sha256}});
    }
    splits_json[split_name] = {{"num_samples", split.num_samples()}, {"shards", shards}};
  }
  j["splits"] = splits_json;
  return j;
}

Manifest Manifest::from_json(const json& j, const std::string& origin) {
  Manifest m;
  try {
    HPCNN_CHECK(j.value("format", "") == "hpcnn-dataset", origin, ": not an hpcnn dataset manifest");
    const int version = j.at("version").get<int>();
    HPCNN_CHECK(version == kManifestVersion, origin, ": unsupported manifest version ", version);
    m.name = j.at("name").get<std::string>();
    m.source = j.value("source", "");
    const std::string task = j.at("task").get<std::string>();
    HPCNN_CHECK(task == "classification" || task == "regression", origin, ": unknown task '", task, "'");
    m.task = task == "classification" ? Task::kClassification : Task::kRegression;
    const std::string dtype = j.at("sample_dtype").get<std::string>();
    HPCNN_CHECK(dtype == "uint8" || dtype == "float32", origin, ": unsupported sample_dtype '", dtype, "'");
    m.sample_type = dtype == "uint8" ? SampleType::kUInt8 : SampleType::kFloat32;
    // Every size is bounded (docs/formats.md, "Manifest limits") before
    // anything is sized by it: a hand-edited num_classes of 2^31 once made
    // `data inspect` allocate gigabytes for its histogram.
    const auto shape = j.at("sample_shape").get<std::vector<int64_t>>();
    HPCNN_CHECK(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0, origin,
                ": sample_shape must be three positive sizes (C, H, W)");
    checked_mul(checked_mul(shape[0], shape[1], cat(origin, ": sample_shape"), kMaxSampleElements), shape[2],
                cat(origin, ": sample_shape (C x H x W)"), kMaxSampleElements);
    m.sample_shape = {shape[0], shape[1], shape[2]};
    if (m.task == Task::kClassification) {
      const int64_t classes = j.at("num_classes").get<int64_t>();
      HPCNN_CHECK(classes >= 1 && classes <= kMaxClasses, origin, ": num_classes is ", classes, " (expected 1..",
                  kMaxClasses, ")");
      m.num_classes = static_cast<int>(classes);
      m.class_names = j.value("class_names", std::vector<std::string>{});
      HPCNN_CHECK(m.class_names.size() <= static_cast<size_t>(m.num_classes), origin, ": ", m.class_names.size(),
                  " class_names for ", m.num_classes, " classes");
    } else {
      const int64_t dim = j.at("target_dim").get<int64_t>();
      HPCNN_CHECK(dim >= 1 && dim <= kMaxTargetDim, origin, ": target_dim is ", dim, " (expected 1..", kMaxTargetDim,
                  ")");
      m.target_dim = static_cast<int>(dim);
      m.target_description = j.value("target_description", "");
    }
    m.generator = j.value("generator", json());
    const json& splits = j.at("splits");
    HPCNN_CHECK(splits.is_object() && splits.size() <= kMaxSplits, origin, ": splits must be an object of at most ",
                kMaxSplits, " splits");
    for (const auto& [split_name, split_json] : splits.items()) {
      SplitInfo split;
      int64_t expected_first = 0;
      const json& shards = split_json.at("shards");
      HPCNN_CHECK(shards.is_array() && shards.size() <= kMaxShards, origin, ": split '", split_name,
                  "' must list at most ", kMaxShards, " shards");
      for (const json& s : shards) {
        ShardInfo shard{s.at("file").get<std::string>(), s.at("num_samples").get<int64_t>(),
                        s.at("first_index").get<int64_t>(), s.at("sha256").get<std::string>()};
        HPCNN_CHECK(!shard.file.empty() && shard.file != "." && shard.file != ".." &&
                        shard.file.find('/') == std::string::npos && shard.file.find('\0') == std::string::npos,
                    origin, ": shard file '", shard.file, "' must be a plain file name");
        HPCNN_CHECK(shard.num_samples > 0 && shard.first_index == expected_first, origin, ": shard '", shard.file,
                    "' does not continue split '", split_name, "' (first_index ", shard.first_index, ", expected ",
                    expected_first, ")");
        expected_first = checked_add(expected_first, shard.num_samples,
                                     cat(origin, ": split '", split_name, "': num_samples"), kMaxSplitSamples);
        split.shards.push_back(std::move(shard));
      }
      HPCNN_CHECK(!split.shards.empty(), origin, ": split '", split_name, "' has no shards");
      // The split's own count, when given, must agree with its shards'.
      if (split_json.contains("num_samples")) {
        const int64_t claimed = split_json.at("num_samples").get<int64_t>();
        HPCNN_CHECK(claimed == expected_first, origin, ": split '", split_name, "' claims ", claimed,
                    " samples but its shards hold ", expected_first);
      }
      m.splits[split_name] = std::move(split);
    }
  } catch (const json::exception& e) {
    HPCNN_THROW(origin, ": malformed manifest (", e.what(), ")");
  }
  return m;
}

Manifest load_manifest(const fs::path& dir) {
  HPCNN_CHECK(fs::is_directory(dir), dir.string(), ": not a dataset directory (no such directory)");
  const fs::path path = dir / kManifestName;
  HPCNN_CHECK(fs::exists(path), dir.string(), ": not a dataset directory (", kManifestName, " is missing)");
  const std::string text = read_text_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    HPCNN_THROW(path.string(), ": malformed manifest (", e.what(), ")");
  }
  return Manifest::from_json(j, path.string());
}

void save_manifest(const fs::path& dir, const Manifest& manifest) {
  // Names given on the command line may hold bytes that are not UTF-8: U+FFFD, not a throw.
  write_file_atomic(dir / kManifestName, manifest.to_json().dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

void require_replaceable_dataset(const fs::path& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) return;
  HPCNN_CHECK(fs::is_directory(st), dir.string(), ": exists and is not a directory; --force replaces only datasets");
  if (fs::is_empty(dir, ec) && !ec) return;
  const fs::path manifest = dir / kManifestName;
  bool ours = false;
  if (fs::is_regular_file(manifest, ec)) {
    try {
      const json j = json::parse(read_text_file(manifest));
      ours = j.is_object() && j.value("format", "") == "hpcnn-dataset";
    } catch (const std::exception&) {
      ours = false;
    }
  }
  HPCNN_CHECK(ours, dir.string(),
              ": exists and is not an hpcnn dataset (no manifest.json with format \"hpcnn-dataset\"); --force "
              "replaces only datasets: remove it yourself or choose another --out");
}

void verify_checksums(const fs::path& dir, const Manifest& manifest, const std::vector<std::string>& splits) {
  for (const std::string& split_name : splits) {
    const SplitInfo& split = manifest.split(split_name);
    for (size_t s = 0; s < split.shards.size(); ++s) {
      const ShardInfo& info = split.shards[s];
      const fs::path path = dir / info.file;
      HPCNN_CHECK(fs::is_regular_file(path), path.string(), ": shard ", s, " of split '", split_name, "' is missing");
      const std::string digest = sha256_file(path);
      HPCNN_CHECK(digest == info.sha256, path.string(), ": shard ", s, " of split '", split_name,
                  "' is damaged: SHA-256 ", digest.substr(0, 16), "..., manifest says ", info.sha256.substr(0, 16),
                  "... (hpcnn data verify ", dir.string(), " checks every shard)");
    }
  }
}

std::string shard_file_name(const std::string& split, int index, int count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.h5", index, count);
  return split + buf;
}

}  // namespace hpcnn::data
