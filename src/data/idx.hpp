// MNIST-format IDX files: parsing with every size checked.
//
// An IDX file is: two zero bytes, a type code, the number of dimensions d,
// then d big-endian uint32 sizes, then the elements in row-major order
// (big-endian when wider than a byte). Files may be gzip-compressed (.gz or
// detected by magic). Anything that disagrees — magic, type, a product of
// dimensions that overflows, a payload shorter or longer than the header
// promises — is an hpcnn::Error naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hpcnn::data {

enum class IdxType : uint8_t {
  kUInt8 = 0x08,
  kInt8 = 0x09,
  kInt16 = 0x0B,
  kInt32 = 0x0C,
  kFloat32 = 0x0D,
  kFloat64 = 0x0E,
};

size_t idx_type_size(IdxType type);
const char* idx_type_name(IdxType type);

struct IdxArray {
  IdxType type = IdxType::kUInt8;
  std::vector<uint64_t> dims;
  /// Elements in row-major order, converted to host byte order.
  std::vector<uint8_t> bytes;

  uint64_t element_count() const;
};

/// Parses an in-memory IDX image; `name` is used in error messages.
IdxArray parse_idx(std::span<const uint8_t> file, std::string_view name);

/// Reads a whole file, transparently gunzipping it; refuses files larger
/// than `max_bytes` once decompressed.
std::vector<uint8_t> read_maybe_gzip(const std::filesystem::path& path, uint64_t max_bytes = uint64_t{8} << 30);

/// read_maybe_gzip + parse_idx.
IdxArray read_idx(const std::filesystem::path& path);

}  // namespace hpcnn::data
