// `hpcnn data inspect` and `hpcnn data verify` as library functions.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "data/dataset.hpp"

namespace hpcnn::data {

struct SplitSummary {
  std::string name;
  int64_t num_samples = 0;
  int num_shards = 0;
  std::vector<int64_t> class_counts;                                   ///< classification: samples per class
  double value_min = 0, value_max = 0, value_mean = 0, value_std = 0;  ///< over all sample values (raw units)
  double target_min = 0, target_max = 0, target_mean = 0;              ///< regression
};

struct DatasetSummary {
  Manifest manifest;
  std::vector<SplitSummary> splits;  ///< in train, validation, test order, then any others
  nlohmann::json to_json() const;
  /// A human-readable report (shapes, counts, class histogram).
  std::string to_text() const;
};

/// Reads every split once and summarises it.
DatasetSummary inspect_dataset(const std::filesystem::path& dir);

struct VerifyReport {
  int shards_checked = 0;
  std::vector<std::string> problems;  ///< one line each, naming the shard
  bool ok() const { return problems.empty(); }
};

/// Checks every shard: present, SHA-256 as in the manifest, readable through
/// the Fletcher32 filter, shapes/types/attributes as the manifest says, labels
/// in range, no non-finite values. Throws only when the manifest itself is bad.
VerifyReport verify_dataset(const std::filesystem::path& dir, const Logger& log);

}  // namespace hpcnn::data
