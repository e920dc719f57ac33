// hpcnn data import-idx | inspect | verify.
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "data/import_idx.hpp"
#include "data/inspect.hpp"

namespace fs = std::filesystem;

namespace hpcnn::cli {

namespace {
constexpr const char* kDefaultIdxDir = "/usr/share/datasets/fashion-mnist";
}

int run_data_import_idx(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data import-idx";
  spec.summary =
      "Import MNIST-format IDX files (raw or .gz) into a sharded HDF5 dataset directory.\n"
      "With no options it imports Fashion-MNIST from Debian's dataset-fashion-mnist package\n"
      "into datasets/fashion-mnist.";
  spec.details =
      "Examples:\n"
      "  hpcnn data import-idx                                   # Fashion-MNIST -> datasets/fashion-mnist\n"
      "  hpcnn data import-idx --source-dir ~/mnist --name mnist --shards 4 --validation-fraction 0.1\n"
      "  hpcnn data import-idx --train-images a.idx --train-labels b.idx --out datasets/mine";
  std::string source_dir = kDefaultIdxDir;
  std::string train_images, train_labels, test_images, test_labels, out, name, class_names;
  data::ImportIdxConfig config;
  // clang-format off
  spec.options.add_options()
      ("source-dir", po::value<std::string>(&source_dir)->default_value(kDefaultIdxDir)->value_name("DIR"),
       "directory holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
       "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")
      ("train-images", po::value<std::string>(&train_images)->value_name("FILE"), "training images (overrides --source-dir)")
      ("train-labels", po::value<std::string>(&train_labels)->value_name("FILE"), "training labels")
      ("test-images", po::value<std::string>(&test_images)->value_name("FILE"), "test images (optional)")
      ("test-labels", po::value<std::string>(&test_labels)->value_name("FILE"), "test labels (optional)")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"), "output dataset directory [datasets/NAME]")
      ("name", po::value<std::string>(&name)->value_name("NAME"), "dataset name [the source directory's name]")
      ("class-names", po::value<std::string>(&class_names)->value_name("A,B,..."),
       "comma-separated class names [known for fashion-mnist and mnist, else 0..K-1]")
      ("classes", po::value<int>(&config.num_classes)->default_value(0), "number of classes (0: largest label + 1)")
      ("shards", po::value<int>(&config.shards)->default_value(1), "shard files per split (1..65536)")
      ("validation-fraction", po::value<double>(&config.validation_fraction)->default_value(0.0),
       "fraction of the training images, taken from the end, that form the validation split [0, 1)")
      ("deflate", po::value<int>(&config.deflate_level)->default_value(0), "gzip level for shard chunks (0 = none, 1..9)")
      ("force", po::bool_switch(&config.force),
       "replace an existing output directory");
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  require_range("shards", config.shards, 1, 65536);
  require_range("classes", config.num_classes, 0, 65536);
  require_range("deflate", config.deflate_level, 0, 9);
  require_range("validation-fraction", config.validation_fraction, 0.0, 0.999);

  const bool explicit_files = !train_images.empty() || !train_labels.empty();
  if (explicit_files) {
    if (train_images.empty() || train_labels.empty()) {
      throw UsageError("--train-images and --train-labels must be given together");
    }
    if (test_images.empty() != test_labels.empty()) {
      throw UsageError("--test-images and --test-labels must be given together");
    }
    config.train_images = train_images;
    config.train_labels = train_labels;
    config.test_images = test_images;
    config.test_labels = test_labels;
  } else {
    data::find_idx_files(source_dir, config);
  }
  config.name = !name.empty()    ? name
                : explicit_files ? fs::path(train_images).parent_path().filename().string()
                                 : fs::path(source_dir).lexically_normal().filename().string();
  if (config.name.empty()) config.name = "idx";
  config.out = out.empty() ? fs::path("datasets") / config.name : fs::path(out);
  if (!class_names.empty()) config.class_names = split_list(class_names, "class-names");

  const Logger log(common.log_level());
  data::import_idx(config, log);
  log.info("wrote " + config.out.string());
  std::cout << data::inspect_dataset(config.out).to_text();
  return 0;
}

int run_data_inspect(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data inspect";
  spec.summary = "Print a dataset's shapes, sample counts, value ranges and class histogram.";
  spec.positional_usage = "DIR";
  std::string dir;
  bool as_json = false;
  // clang-format off
  spec.options.add_options()
      ("dir", po::value<std::string>(&dir)->required()->value_name("DIR"), "dataset directory (positional)")
      ("json", po::bool_switch(&as_json),
       "print JSON instead of text");
  // clang-format on
  spec.positional.add("dir", 1);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  const data::DatasetSummary summary = data::inspect_dataset(dir);
  std::cout << (as_json ? summary.to_json().dump(2) + "\n" : summary.to_text());
  return 0;
}

int run_data_verify(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data verify";
  spec.summary =
      "Check every shard of a dataset: present, SHA-256 as recorded in the manifest, every chunk\n"
      "readable through its Fletcher32 checksum, shapes and labels as the manifest says.\n"
      "Exits 1 and names each bad shard when anything is wrong.";
  spec.positional_usage = "DIR";
  std::string dir;
  // clang-format off
  spec.options.add_options()("dir", po::value<std::string>(&dir)->required()->value_name("DIR"),
                             "dataset directory (positional)");
  // clang-format on
  spec.positional.add("dir", 1);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  const Logger log(common.log_level());
  const data::VerifyReport report = data::verify_dataset(dir, log);
  for (const std::string& problem : report.problems) std::cerr << "hpcnn: error: " << problem << "\n";
  std::cout << dir << ": " << report.shards_checked << " shards checked, " << report.problems.size() << " bad\n";
  return report.ok() ? 0 : 1;
}

}  // namespace hpcnn::cli
