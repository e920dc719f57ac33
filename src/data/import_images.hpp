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

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "data/dataset.hpp"

namespace hpcnn::data {

/// Largest image (width x height) decoded; checked from the file's header
/// before anything is allocated.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;
/// Largest image file read.
inline constexpr uint64_t kMaxImageFileBytes = uint64_t{1} << 30;

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
/// a whole, valid PNG or JPEG, or has more than `max_pixels` pixels.
DecodedImage decode_image(std::span<const uint8_t> bytes, std::string_view name, bool grayscale,
                          int64_t max_pixels = kMaxImagePixels);

/// Reads and decodes one file; errors name the file.
DecodedImage read_image_file(const std::filesystem::path& path, bool grayscale, int64_t max_pixels = kMaxImagePixels);

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
  bool force = false;
};

/// Imports and returns the manifest written to config.out.
Manifest import_images(const ImportImagesConfig& config, const Logger& log);

}  // namespace hpcnn::data
