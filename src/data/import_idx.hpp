// IDX (MNIST-format) files -> a sharded HDF5 dataset directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "data/dataset.hpp"

namespace hpcnn::data {

struct ImportIdxConfig {
  std::filesystem::path train_images;
  std::filesystem::path train_labels;
  std::filesystem::path test_images;  ///< optional (empty: no test split)
  std::filesystem::path test_labels;
  std::filesystem::path out;
  std::string name;
  std::vector<std::string> class_names;  ///< empty: known names for fashion-mnist / mnist, else "0".."K-1"
  int num_classes = 0;                   ///< 0: max label + 1
  int shards = 1;
  double validation_fraction = 0.0;  ///< the last fraction of train becomes "validation" (Keras semantics)
  int deflate_level = 0;
  bool force = false;
};

/// Finds the four standard file names (with or without .gz) in `dir`.
void find_idx_files(const std::filesystem::path& dir, ImportIdxConfig& config);

/// Class names of the well-known IDX datasets, or empty.
std::vector<std::string> known_class_names(const std::string& dataset_name);

/// Imports and returns the manifest written to config.out.
Manifest import_idx(const ImportIdxConfig& config, const Logger& log);

}  // namespace hpcnn::data
