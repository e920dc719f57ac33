// IDX import: parse everything first (all checks before any output), then
// write shards into a staging directory that is renamed into place at the end.
#include "data/import_idx.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/idx.hpp"

namespace fs = std::filesystem;

namespace hpcnn::data {

void find_idx_files(const fs::path& dir, ImportIdxConfig& config) {
  HPCNN_CHECK(fs::is_directory(dir), dir.string(), ": no such directory");
  auto find = [&](const std::string& base) -> fs::path {
    for (const char* suffix : {"", ".gz"}) {
      const fs::path p = dir / (base + suffix);
      if (fs::exists(p)) return p;
    }
    return {};
  };
  config.train_images = find("train-images-idx3-ubyte");
  config.train_labels = find("train-labels-idx1-ubyte");
  config.test_images = find("t10k-images-idx3-ubyte");
  config.test_labels = find("t10k-labels-idx1-ubyte");
  HPCNN_CHECK(!config.train_images.empty() && !config.train_labels.empty(), dir.string(),
              ": no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] here");
}

std::vector<std::string> known_class_names(const std::string& dataset_name) {
  if (dataset_name == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  }
  if (dataset_name == "mnist") return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return {};
}

namespace {
struct ImagesAndLabels {
  IdxArray images;
  IdxArray labels;
  int64_t count = 0;
};

ImagesAndLabels load_pair(const fs::path& images_path, const fs::path& labels_path) {
  ImagesAndLabels out{read_idx(images_path), read_idx(labels_path), 0};
  HPCNN_CHECK(out.images.type == IdxType::kUInt8, images_path.string(), ": images must be unsigned bytes, found ",
              idx_type_name(out.images.type));
  HPCNN_CHECK(out.images.dims.size() == 3, images_path.string(), ": images must have 3 dimensions (N, H, W), found ",
              out.images.dims.size());
  HPCNN_CHECK(out.images.dims[1] > 0 && out.images.dims[2] > 0, images_path.string(), ": empty images");
  HPCNN_CHECK(out.labels.type == IdxType::kUInt8 && out.labels.dims.size() == 1, labels_path.string(),
              ": labels must be one dimension of unsigned bytes");
  HPCNN_CHECK(out.labels.dims[0] == out.images.dims[0], labels_path.string(), ": ", out.labels.dims[0], " labels for ",
              out.images.dims[0], " images in ", images_path.string());
  out.count = static_cast<int64_t>(out.images.dims[0]);
  return out;
}
}  // namespace

Manifest import_idx(const ImportIdxConfig& config, const Logger& log) {
  HPCNN_CHECK(!config.out.empty(), "no output directory given");
  HPCNN_CHECK(config.test_images.empty() == config.test_labels.empty(),
              "test images and test labels must be given together");
  if (config.force) require_replaceable_dataset(config.out);
  // 1. Parse and check every input before writing anything.
  ImagesAndLabels train = load_pair(config.train_images, config.train_labels);
  ImagesAndLabels test;
  const bool has_test = !config.test_images.empty();
  if (has_test) {
    test = load_pair(config.test_images, config.test_labels);
    HPCNN_CHECK(test.images.dims[1] == train.images.dims[1] && test.images.dims[2] == train.images.dims[2],
                config.test_images.string(), ": image size ", test.images.dims[1], "x", test.images.dims[2],
                " differs from the training images' ", train.images.dims[1], "x", train.images.dims[2]);
  }
  int max_label = 0;
  for (uint8_t l : train.labels.bytes) max_label = std::max<int>(max_label, l);
  for (uint8_t l : test.labels.bytes) max_label = std::max<int>(max_label, l);
  const int num_classes = config.num_classes > 0 ? config.num_classes : max_label + 1;
  HPCNN_CHECK(max_label < num_classes, "labels go up to ", max_label, " but --classes is ", num_classes);

  Manifest m;
  m.name = config.name;
  m.task = Task::kClassification;
  m.sample_type = SampleType::kUInt8;
  m.sample_shape = {1, static_cast<int64_t>(train.images.dims[1]), static_cast<int64_t>(train.images.dims[2])};
  m.num_classes = num_classes;
  m.class_names = config.class_names.empty() ? known_class_names(config.name) : config.class_names;
  if (m.class_names.empty()) {
    for (int c = 0; c < num_classes; ++c) m.class_names.push_back(std::to_string(c));
  }
  HPCNN_CHECK(static_cast<int>(m.class_names.size()) == num_classes, "got ", m.class_names.size(), " class names for ",
              num_classes, " classes");
  m.source =
      "idx: " + fs::absolute(config.train_images).string() + ", " + fs::absolute(config.train_labels).string() +
      (has_test ? ", " + fs::absolute(config.test_images).string() + ", " + fs::absolute(config.test_labels).string()
                : "");

  const auto n_validation =
      static_cast<int64_t>(std::llround(config.validation_fraction * static_cast<double>(train.count)));
  const int64_t n_train = train.count - n_validation;
  HPCNN_CHECK(n_train > 0, "--validation-fraction ", config.validation_fraction, " leaves no training samples");

  // 2. Write the shards into a staging directory; rename it into place at the end.
  StagingDir staging(config.out, config.force);
  WriteOptions options;
  options.num_shards = config.shards;
  options.deflate_level = config.deflate_level;
  const int64_t elems = m.sample_elements();
  auto copy_from = [&](const ImagesAndLabels& src, int64_t offset) {
    return [&src, offset, elems](SampleBlock& block) {
      const int64_t first = offset + block.first_index;
      std::memcpy(block.samples_u8.data(), src.images.bytes.data() + first * elems,
                  static_cast<size_t>(block.count * elems));
      for (int64_t i = 0; i < block.count; ++i)
        block.labels[static_cast<size_t>(i)] = src.labels.bytes[static_cast<size_t>(first + i)];
    };
  };
  auto progress = [&](const std::string& split) {
    return [&log, split](int64_t done, int64_t total) {
      log.progress(cat("import ", split, ": ", done, "/", total, " samples"));
    };
  };
  write_split(staging.path(), m, "train", n_train, options, copy_from(train, 0), progress("train"));
  log.end_progress();
  if (n_validation > 0) {
    write_split(staging.path(), m, "validation", n_validation, options, copy_from(train, n_train),
                progress("validation"));
    log.end_progress();
  }
  if (has_test) {
    write_split(staging.path(), m, "test", test.count, options, copy_from(test, 0), progress("test"));
    log.end_progress();
  }
  save_manifest(staging.path(), m);
  staging.commit();
  return m;
}

}  // namespace hpcnn::data
