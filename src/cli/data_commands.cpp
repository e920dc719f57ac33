// hpcnn data import-idx | import-npz | import-images | inspect | verify.
#include <filesystem>
#include <iostream>
#include <tuple>

#include "cli/commands.hpp"
#include "cli/option_groups.hpp"
#include "cli/options.hpp"
#include "core/fs.hpp"
#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/import_idx.hpp"
#include "data/import_images.hpp"
#include "data/import_npz.hpp"
#include "data/inspect.hpp"
#include "serve/image.hpp"

namespace fs = std::filesystem;

namespace hpcnn::cli {

namespace {
constexpr const char* kDefaultIdxDir = "/usr/share/datasets/fashion-mnist";

/// "HxW" (e.g. 28x28) as two sizes in 1..65536, or a usage error naming the option.
std::pair<int64_t, int64_t> parse_hw(const char* option, const std::string& text) {
  const size_t x = text.find('x');
  auto number = [&](const std::string& part) -> int64_t {
    if (part.empty() || part.size() > 5 || part.find_first_not_of("0123456789") != std::string::npos) return 0;
    const long v = std::stol(part);
    return v >= 1 && v <= 65536 ? v : 0;
  };
  const int64_t h = x == std::string::npos ? 0 : number(text.substr(0, x));
  const int64_t w = x == std::string::npos ? 0 : number(text.substr(x + 1));
  if (h == 0 || w == 0) {
    throw UsageError(std::string("--") + option + ": '" + text + "' is not HxW (e.g. 28x28, sides 1..65536)");
  }
  return {h, w};
}
}  // namespace

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
      ("validation-fraction", po::value<double>(&config.validation_fraction)->default_value(0.0),
       "fraction of the training images, taken from the end, that form the validation split [0, 1)")
      ("deflate", po::value<int>(&config.deflate_level)->default_value(0), "gzip level for shard chunks (0 = none, 1..9)")
      ("force", po::bool_switch(&config.force),
       "replace an existing output directory");
  // clang-format on
  add_shards_option(spec.options, config.shards);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_shards(config.shards);
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

int run_data_import_npz(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data import-npz";
  spec.summary =
      "Import images and integer labels from a NumPy .npz archive (np.savez or np.savez_compressed) into a\n"
      "sharded HDF5 dataset directory. Keras's mnist.npz layout (x_train, y_train, x_test, y_test) gives\n"
      "train and test splits; one pool (x, y) is shuffled with --seed and split by --test-fraction.";
  spec.positional_usage = "FILE";
  spec.details =
      "Images: uint8 or any integer/float array of (N, H, W), (N, 1, H, W), (N, H, W, 1) or (N, H*W) rows\n"
      "(square unless --image-shape says otherwise), values in [0, --max-value] stored as 0..255.\n"
      "Labels: (N,) or (N, 1) whole numbers from 0.\n"
      "Examples:\n"
      "  hpcnn data import-npz mnist.npz --name mnist --validation-fraction 0.1\n"
      "  hpcnn data import-npz digits.npz --max-value 16 --resize 28x28 --test-fraction 0.2 --out datasets/digits";
  std::string input, out, name, class_names, image_shape, resize;
  data::ImportNpzConfig config;
  std::string seed = "1";
  // clang-format off
  spec.options.add_options()
      ("input", po::value<std::string>(&input)->required()->value_name("FILE"), ".npz archive (positional)")
      ("images", po::value<std::string>(&config.images_key)->value_name("KEY"),
       "array of (training) images [x_train, x, images or X: the first present]")
      ("labels", po::value<std::string>(&config.labels_key)->value_name("KEY"),
       "array of (training) labels [y_train, y, labels or Y]")
      ("test-images", po::value<std::string>(&config.test_images_key)->value_name("KEY"),
       "array of test images [x_test when present]")
      ("test-labels", po::value<std::string>(&config.test_labels_key)->value_name("KEY"),
       "array of test labels [y_test when present]")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"), "output dataset directory [datasets/NAME]")
      ("name", po::value<std::string>(&name)->value_name("NAME"), "dataset name [the file's name without .npz]")
      ("class-names", po::value<std::string>(&class_names)->value_name("A,B,..."),
       "comma-separated class names [0..K-1]")
      ("classes", po::value<int>(&config.num_classes)->default_value(0), "number of classes (0: largest label + 1)")
      ("test-fraction", po::value<double>(&config.test_fraction)->default_value(0.0),
       "fraction of the shuffled samples that form the test split, when the file has no test arrays [0, 1)")
      ("validation-fraction", po::value<double>(&config.validation_fraction)->default_value(0.0),
       "fraction of the training samples, taken from the end, that form the validation split [0, 1)")
      ("seed", po::value<std::string>(&seed)->default_value(seed),
       "shuffle the (training) samples with this seed before splitting (0: keep the file's order)")
      ("max-value", po::value<double>(&config.max_value)->default_value(255.0),
       "the largest pixel value: [0, V] maps to 0..255 (16 for scikit-learn's digits, 1 for [0, 1] floats)")
      ("image-shape", po::value<std::string>(&image_shape)->value_name("HxW"),
       "image size of (N, H*W) rows [square]")
      ("resize", po::value<std::string>(&resize)->value_name("HxW"),
       "resample every image to HxW (bilinear), e.g. 28x28 for the MNIST models")
      ("deflate", po::value<int>(&config.deflate_level)->default_value(0), "gzip level for shard chunks (0 = none, 1..9)")
      ("force", po::bool_switch(&config.force),
       "replace an existing output directory");
  // clang-format on
  spec.positional.add("input", 1);
  add_shards_option(spec.options, config.shards);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_shards(config.shards);
  require_range("classes", config.num_classes, 0, 65536);
  require_range("deflate", config.deflate_level, 0, 9);
  require_range("test-fraction", config.test_fraction, 0.0, 0.999);
  require_range("validation-fraction", config.validation_fraction, 0.0, 0.999);
  require_range("max-value", config.max_value, 1e-30, 1e30);
  if (!image_shape.empty()) std::tie(config.image_height, config.image_width) = parse_hw("image-shape", image_shape);
  if (!resize.empty()) std::tie(config.resize_height, config.resize_width) = parse_hw("resize", resize);
  if (config.test_images_key.empty() != config.test_labels_key.empty()) {
    throw UsageError("--test-images and --test-labels must be given together");
  }
  config.seed = parse_seed(seed);
  config.input = input;
  config.name = !name.empty() ? name : fs::path(input).stem().string();
  if (config.name.empty()) config.name = "npz";
  config.out = out.empty() ? fs::path("datasets") / config.name : fs::path(out);
  if (!class_names.empty()) config.class_names = split_list(class_names, "class-names");

  const Logger log(common.log_level());
  data::import_npz(config, log);
  log.info("wrote " + config.out.string());
  std::cout << data::inspect_dataset(config.out).to_text();
  return 0;
}

int run_data_import_images(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data import-images";
  spec.summary =
      "Import a folder of PNG and JPEG images, one subfolder per class (DIR/<class>/<image>), into a sharded\n"
      "HDF5 dataset directory of (C, H, W) uint8 samples: RGB, or grey with --grayscale, resized to --size.\n"
      "Class names are the folder names in byte order; a class's label is its position there.";
  spec.positional_usage = "DIR";
  spec.details =
      "Layouts:\n"
      "  DIR/<class>/<image>                            one pool, shuffled with --seed, split by the fractions\n"
      "  DIR/train/<class>/<image>, DIR/test/<class>/..  the folders are the splits (and DIR/validation/)\n"
      "Files are decoded by content (libpng, libjpeg-turbo); other files and names starting with '.' are\n"
      "skipped. Grey images are replicated to three channels, alpha is dropped (not composited), palettes\n"
      "are expanded and 16-bit samples scaled to 8 bits; --grayscale stores round(0.299 R + 0.587 G +\n"
      "0.114 B). Every image is resized bilinearly to --size (aspect ratio not kept). A corrupt image\n"
      "stops the import with an error naming it, leaving no output directory.\n"
      "Examples:\n"
      "  hpcnn data import-images ~/flowers --test-fraction 0.2 --validation-fraction 0.1\n"
      "  hpcnn data import-images ~/pets --size 64x64 --grayscale --shards 4 --out datasets/pets-grey";
  std::string input, out, name, size = "96x96";
  data::ImportImagesConfig config;
  std::string seed = "1";
  // clang-format off
  spec.options.add_options()
      ("input", po::value<std::string>(&input)->required()->value_name("DIR"),
       "folder of class folders, or of train/ and test/ (and validation/) folders of class folders (positional)")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"), "output dataset directory [datasets/NAME]")
      ("name", po::value<std::string>(&name)->value_name("NAME"), "dataset name [DIR's name]")
      ("size", po::value<std::string>(&size)->default_value(size)->value_name("HxW"),
       "resize every image to HxW (bilinear)")
      ("grayscale", po::bool_switch(&config.grayscale), "store one grey channel instead of RGB")
      ("test-fraction", po::value<double>(&config.test_fraction)->default_value(0.0),
       "fraction of the shuffled images that form the test split, when DIR has no train/ and test/ folders [0, 1)")
      ("validation-fraction", po::value<double>(&config.validation_fraction)->default_value(0.0),
       "fraction of the training images, taken from the end, that form the validation split, when DIR has no "
       "validation/ folder [0, 1)")
      ("seed", po::value<std::string>(&seed)->default_value(seed),
       "shuffle the (training) images with this seed before splitting (0: class, then file name order)")
      ("threads,t", po::value<int>(&config.threads)->default_value(0), "decoding threads (0: all cores)")
      ("deflate", po::value<int>(&config.deflate_level)->default_value(0), "gzip level for shard chunks (0 = none, 1..9)")
      ("force", po::bool_switch(&config.force),
       "replace an existing output directory");
  // clang-format on
  spec.positional.add("input", 1);
  add_shards_option(spec.options, config.shards);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_shards(config.shards);
  require_range("deflate", config.deflate_level, 0, 9);
  require_range("threads", config.threads, 0, 4096);
  require_range("test-fraction", config.test_fraction, 0.0, 0.999);
  require_range("validation-fraction", config.validation_fraction, 0.0, 0.999);
  std::tie(config.height, config.width) = parse_hw("size", size);
  config.seed = parse_seed(seed);
  config.input = input;
  config.name = !name.empty() ? name : fs::path(input).lexically_normal().filename().string();
  if (config.name.empty() || config.name == "." || config.name == "..") {
    config.name = fs::absolute(input).lexically_normal().filename().string();
  }
  if (config.name.empty()) config.name = "images";
  config.out = out.empty() ? fs::path("datasets") / config.name : fs::path(out);

  const Logger log(common.log_level());
  data::import_images(config, log);
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

int run_data_augment(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data augment";
  spec.summary =
      "Show what `hpcnn train --augment` does to a dataset: a PNG grid with one row per training sample\n"
      "(the first --samples, or --first onwards) and one column per epoch, after a column of the stored\n"
      "sample. The images are exactly those training sees for that --seed (channel 0 of each image;\n"
      "float data is stretched to its own min..max).";
  spec.positional_usage = "DIR";
  spec.details =
      "Example:\n"
      "  hpcnn data augment datasets/circuits --augment on --samples 8 --epochs 6 --out augmented.png";
  std::string dir, augment = "on", out;
  long long first = 0, samples = 8, epochs = 6, zoom = 2;
  std::string seed_text = "42";
  // clang-format off
  spec.options.add_options()
      ("dir", po::value<std::string>(&dir)->required()->value_name("DIR"), "dataset directory (positional)")
      ("augment", po::value<std::string>(&augment)->default_value(augment)->value_name("SPEC"),
       "as hpcnn train --augment")
      ("seed", po::value<std::string>(&seed_text)->default_value(seed_text), "as hpcnn train --seed")
      ("first", po::value<long long>(&first)->default_value(first), "first training sample (global index)")
      ("samples", po::value<long long>(&samples)->default_value(samples), "rows: consecutive samples from --first")
      ("epochs", po::value<long long>(&epochs)->default_value(epochs), "columns: epochs 1..N")
      ("zoom", po::value<long long>(&zoom)->default_value(zoom), "pixels per image pixel")
      ("out", po::value<std::string>(&out)->required()->value_name("FILE.png"), "the grid (written atomically)");
  // clang-format on
  spec.positional.add("dir", 1);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  require_range<long long>("samples", samples, 1, 256);
  require_range<long long>("epochs", epochs, 1, 64);
  require_range<long long>("zoom", zoom, 1, 16);
  const uint64_t seed = parse_seed(seed_text);
  const data::AugmentSpec aug = data::parse_augment(augment);
  const data::Manifest manifest = data::load_manifest(dir);
  const data::Augmenter augmenter(aug, seed, manifest);  // refuses data that are not images
  const auto& [channels, height, width] = manifest.sample_shape;
  data::SplitReader reader(dir, manifest, "train");
  require_range<long long>("first", first, 0, reader.num_samples() - 1);
  samples = std::min<long long>(samples, reader.num_samples() - first);
  std::vector<int64_t> indices(static_cast<size_t>(samples));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = first + static_cast<int64_t>(i);
  data::Batch stored;
  reader.read(indices, stored);
  const int64_t gap = 2, cols = epochs + 1, elements = channels * height * width;
  serve::GreyImage grid;
  grid.width = cols * (width * zoom + gap) - gap;
  grid.height = samples * (height * zoom + gap) - gap;
  grid.pixels.assign(static_cast<size_t>(grid.width * grid.height), 128);
  std::vector<float> image(static_cast<size_t>(elements)), scratch;
  for (int64_t row = 0; row < samples; ++row) {
    for (int64_t col = 0; col < cols; ++col) {
      const float* src = stored.samples.data() + row * elements;
      std::copy(src, src + elements, image.begin());
      if (col > 0) augmenter.apply_one(image.data(), col, indices[static_cast<size_t>(row)], scratch);
      float lo = 0.0f, hi = 1.0f;
      if (manifest.sample_type != data::SampleType::kUInt8) {
        const auto [mn, mx] = std::minmax_element(image.begin(), image.begin() + height * width);
        lo = *mn;
        hi = *mx > *mn ? *mx : *mn + 1.0f;
      }
      for (int64_t y = 0; y < height * zoom; ++y) {
        for (int64_t x = 0; x < width * zoom; ++x) {
          const float v = (image[static_cast<size_t>((y / zoom) * width + x / zoom)] - lo) / (hi - lo);
          const int64_t gx = col * (width * zoom + gap) + x, gy = row * (height * zoom + gap) + y;
          grid.pixels[static_cast<size_t>(gy * grid.width + gx)] =
              static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
        }
      }
    }
  }
  write_file_atomic(out, serve::encode_png(grid));
  std::cout << out << ": " << samples << " samples x (stored + " << epochs << " epochs), augment " << aug.to_string()
            << ", seed " << seed << "\n";
  return 0;
}

}  // namespace hpcnn::cli
