// A folder-per-class tree of PNG and JPEG files -> a sharded HDF5 dataset
// directory, the layout of torchvision's ImageFolder and Keras's
// image_dataset_from_directory:
//
//   DIR/cat/0001.jpg  DIR/cat/0002.png  DIR/dog/a.jpeg ...
//
// Each immediate subfolder of DIR is a class; class names are the folder
// names sorted by byte order and a class's label is its position there.
// DIR/train/<class>/..., DIR/test/<class>/... (and optionally
// DIR/validation/<class>/...) give the splits instead of --test-fraction.
//
// Images are decoded with libpng and libjpeg-turbo (format told by content,
// not by name), converted to 8-bit RGB (or grey), resized bilinearly and
// stored channel-first as (C, H, W) uint8. Files are decoded block by block
// while the shards are written into a staging directory that is renamed into
// place only when every image has been read: a corrupt file is an
// hpcnn::Error naming it, and leaves nothing behind. docs/formats.md has the
// details (alpha, palettes, 16-bit, CMYK, grey conversion).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "data/dataset.hpp"

namespace hpcnn::data {

/// Largest image (width x height) decoded; checked from the file's header
/// before anything is allocated.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;
/// Largest image file read.
inline constexpr uint64_t kMaxImageFileBytes = uint64_t{1} << 30;
/// Largest decoded image in bytes: width x height x channels x bytes per
/// sample as the file stores them (16-bit samples count 2), checked from the
/// header before anything is allocated. The pixel limit alone let a legal
/// 2 MB PNG of 16383 x 16383 16-bit RGBA pixels (8 bytes each) cost 2 GB per
/// decoding thread; 1 GiB still admits an 8-bit RGB image at the pixel limit.
inline constexpr int64_t kMaxImageBytes = int64_t{1} << 30;
/// Bytes the decoding threads of one import hold at once (each image's
/// interleaved pixels and planar copy): a thread whose image would pass it
/// waits for the others to finish theirs. Above the largest single image, so
/// one always fits.
inline constexpr int64_t kMaxDecodeBytes = int64_t{2} << 30;

/// Memory that decoding threads share. reserve() blocks until `bytes` fit
/// under the limit beside what others hold, or until nobody else holds any
/// (a request above the limit then runs alone instead of waiting forever).
class DecodeBudget {
 public:
  explicit DecodeBudget(int64_t limit) : limit_(limit) {}
  DecodeBudget(const DecodeBudget&) = delete;
  DecodeBudget& operator=(const DecodeBudget&) = delete;
  /// Gives its bytes back when destroyed.
  class Hold {
   public:
    Hold(DecodeBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}
    Hold(Hold&& other) noexcept : budget_(std::exchange(other.budget_, nullptr)), bytes_(other.bytes_) {}
    Hold& operator=(Hold&&) = delete;
    ~Hold() {
      if (budget_ != nullptr) budget_->release(bytes_);
    }

   private:
    DecodeBudget* budget_;
    int64_t bytes_;
  };
  Hold reserve(int64_t bytes);
  /// The most bytes held at once so far.
  int64_t peak() const;

 private:
  void release(int64_t bytes);
  const int64_t limit_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  int64_t held_ = 0, peak_ = 0;
};

/// What decode_image may decode.
struct ImageLimits {
  int64_t max_pixels = kMaxImagePixels;  ///< width x height
  int64_t max_bytes = kMaxImageBytes;    ///< width x height x channels x bytes per sample
  /// Called once the header passed both limits, before the pixels are
  /// allocated, with the bytes the decode will hold (interleaved + planar).
  std::function<void(int64_t)> before_allocating;
};

/// One decoded image: 8-bit, channel-first planes (C, H, W); C is 3 (R, G, B)
/// or 1 (grey).
struct DecodedImage {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  ///< channels * height * width
};

/// True for names ending in .png, .jpg or .jpeg (any case).
bool is_image_file_name(std::string_view name);

/// Decodes a PNG or a JPEG held in memory (told apart by signature). RGB
/// output (grayscale false): grey images are replicated to three channels,
/// alpha is dropped (not composited), palettes are expanded, 16-bit samples
/// become round(v * 255 / 65535), CMYK JPEGs are converted to RGB. Grey
/// output: round((299 R + 587 G + 114 B) / 1000) of RGB images, grey images
/// as they are. Throws hpcnn::Error starting with `name` for data that is not
/// a whole, valid PNG or JPEG, or is larger than `limits` allow.
DecodedImage decode_image(std::span<const uint8_t> bytes, std::string_view name, bool grayscale,
                          const ImageLimits& limits = {});

/// Reads and decodes one file; errors name the file.
DecodedImage read_image_file(const std::filesystem::path& path, bool grayscale, const ImageLimits& limits = {});

/// The files of a scanned tree.
struct ImageTree {
  std::vector<std::string> class_names;  ///< sorted by byte order; label = position
  struct File {
    std::filesystem::path path;
    int32_t label = 0;
  };
  /// "train" alone (class folders directly under DIR), or "train", "test" and
  /// maybe "validation" (DIR/train/<class>/...): files by class, then by name.
  std::map<std::string, std::vector<File>> splits;
  bool split_folders = false;  ///< DIR/train, DIR/test[, DIR/validation]
  int64_t skipped = 0;         ///< entries in class folders that are not image files
};

/// Lists DIR's classes and image files without decoding them. Throws naming
/// the folder for a missing DIR, fewer than two classes, an empty class
/// folder, or a test/validation class that train does not have. Entries whose
/// names start with '.' are ignored.
ImageTree scan_image_tree(const std::filesystem::path& dir);

struct ImportImagesConfig {
  std::filesystem::path input;  ///< DIR
  std::filesystem::path out;
  std::string name;
  int64_t height = 96;  ///< every image is resized to height x width
  int64_t width = 96;
  bool grayscale = false;  ///< store one grey channel instead of RGB
  int shards = 1;
  double test_fraction = 0.0;        ///< of all images, when DIR has no train/test folders
  double validation_fraction = 0.0;  ///< the last fraction of train, when DIR has no validation folder
  uint64_t seed = 1;                 ///< shuffle before splitting; 0: class, then file name order
  int deflate_level = 0;
  int threads = 0;  ///< decoding threads; 0: all cores
  int64_t max_pixels = kMaxImagePixels;
  int64_t max_image_bytes = kMaxImageBytes;    ///< per image, decoded (ImageLimits::max_bytes)
  int64_t max_decode_bytes = kMaxDecodeBytes;  ///< all decoding threads together (DecodeBudget)
  bool force = false;
};

/// Imports and returns the manifest written to config.out.
Manifest import_images(const ImportImagesConfig& config, const Logger& log);

}  // namespace hpcnn::data
