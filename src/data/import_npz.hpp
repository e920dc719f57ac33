// NumPy .npz archives (np.savez / np.savez_compressed) -> a sharded HDF5
// dataset directory, for image sets that ship as arrays: Keras's mnist.npz
// layout (x_train, y_train, x_test, y_test) or one pool of images and labels
// (x, y) from which a seeded shuffle takes test and validation fractions.
//
// Everything is parsed and checked before anything is written: the zip
// directory (zip64 too), each member's CRC-32, the .npy header (dtype, shape,
// C order, payload size), image and label shapes, label values and pixel
// range. Any disagreement is an hpcnn::Error naming the file and the array.
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

/// One .npy array: element kind ('u', 'i', 'f', 'b'), item size in bytes,
/// shape, and the little-endian C-order payload.
struct NpyArray {
  char kind = 'u';
  int item_size = 1;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> bytes;

  uint64_t element_count() const;
  /// "uint8", "float64", ...
  std::string dtype_name() const;
  /// Element i as a double (any supported dtype).
  double value(uint64_t i) const;
};

/// Largest .npy header read (numpy's own reader stops at 10,000 bytes).
inline constexpr uint64_t kMaxNpyHeaderBytes = 65536;

/// A .npy header: the array without its bytes, where they start, and how many the shape needs.
struct NpyHeader {
  NpyArray array;
  uint64_t data_offset = 0;
  uint64_t payload_bytes = 0;
  std::string shape_text;  ///< as written, e.g. "(60000, 28, 28)"
};

/// Parses the header at the start of a .npy file (`file` may be only its
/// first bytes); `name` is used in error messages.
NpyHeader parse_npy_header(std::span<const uint8_t> file, std::string_view name);

/// Parses an in-memory .npy file; `name` is used in error messages.
NpyArray parse_npy(std::span<const uint8_t> file, std::string_view name);

/// Reads every member of an .npz archive, keyed by name without ".npy".
/// Before inflating anything it checks every member's declared size (each and
/// in all at most 8 GiB, a large one at most 100:1 compressed: a bomb is
/// refused unread); before inflating a member, that its .npy header's shape
/// needs exactly that size; inflating stops at the declared size.
std::map<std::string, NpyArray> read_npz(const std::filesystem::path& path);

struct ImportNpzConfig {
  std::filesystem::path input;
  std::string images_key;       ///< empty: x_train, x, images or X, the first present
  std::string labels_key;       ///< empty: y_train, y, labels or Y
  std::string test_images_key;  ///< empty: x_test when present
  std::string test_labels_key;  ///< empty: y_test when present
  std::filesystem::path out;
  std::string name;
  std::vector<std::string> class_names;  ///< empty: "0".."K-1"
  int num_classes = 0;                   ///< 0: max label + 1
  int shards = 1;
  double test_fraction = 0.0;        ///< of the pool, when the file has no test arrays
  double validation_fraction = 0.0;  ///< the last fraction of train becomes "validation"
  uint64_t seed = 1;                 ///< shuffle before splitting; 0: file order
  double max_value = 255.0;          ///< pixel values in [0, max_value] map to 0..255
  int64_t image_height = 0;          ///< for (N, H*W) rows; 0: square
  int64_t image_width = 0;
  int64_t resize_height = 0;  ///< 0: keep the stored size
  int64_t resize_width = 0;
  int deflate_level = 0;
  bool force = false;
};

/// Bilinear resampling of one 8-bit image (pixel centres aligned, edges clamped).
void resize_bilinear(const uint8_t* src, int64_t src_h, int64_t src_w, uint8_t* dst, int64_t dst_h, int64_t dst_w);

/// Imports and returns the manifest written to config.out.
Manifest import_npz(const ImportNpzConfig& config, const Logger& log);

}  // namespace hpcnn::data
