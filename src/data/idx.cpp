// IDX parsing and gzip reading.
#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>

#include "core/error.hpp"

namespace hpcnn::data {

size_t idx_type_size(IdxType type) {
  switch (type) {
    case IdxType::kUInt8:
    case IdxType::kInt8: return 1;
    case IdxType::kInt16: return 2;
    case IdxType::kInt32:
    case IdxType::kFloat32: return 4;
    case IdxType::kFloat64: return 8;
  }
  HPCNN_THROW("unknown IDX type code ", static_cast<int>(type));
}

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::kUInt8: return "uint8";
    case IdxType::kInt8: return "int8";
    case IdxType::kInt16: return "int16";
    case IdxType::kInt32: return "int32";
    case IdxType::kFloat32: return "float32";
    case IdxType::kFloat64: return "float64";
  }
  return "unknown";
}

uint64_t IdxArray::element_count() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

namespace {
bool valid_type_code(uint8_t code) {
  switch (code) {
    case 0x08:
    case 0x09:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x0E: return true;
    default: return false;
  }
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
}  // namespace

IdxArray parse_idx(std::span<const uint8_t> file, std::string_view name) {
  HPCNN_CHECK(file.size() >= 4, name, ": not an IDX file (", file.size(), " bytes, header needs 4)");
  HPCNN_CHECK(file[0] == 0 && file[1] == 0 && valid_type_code(file[2]), name, ": not an IDX file (bad magic number 0x",
              std::hex, (uint32_t{file[0]} << 24 | uint32_t{file[1]} << 16 | uint32_t{file[2]} << 8 | file[3]), ")");
  IdxArray out;
  out.type = static_cast<IdxType>(file[2]);
  const size_t ndims = file[3];
  HPCNN_CHECK(ndims >= 1, name, ": IDX header declares 0 dimensions");
  const size_t header = 4 + 4 * ndims;
  HPCNN_CHECK(file.size() >= header, name, ": truncated IDX header (", ndims, " dimensions need ", header,
              " bytes, file has ", file.size(), ")");
  const size_t element_size = idx_type_size(out.type);
  uint64_t payload = element_size;
  for (size_t i = 0; i < ndims; ++i) {
    const uint64_t d = read_be32(file.data() + 4 + 4 * i);
    out.dims.push_back(d);
    HPCNN_CHECK(!__builtin_mul_overflow(payload, d, &payload), name,
                ": IDX dimensions overflow (product of sizes does not fit in 64 bits)");
  }
  const uint64_t available = file.size() - header;
  HPCNN_CHECK(available >= payload, name, ": truncated IDX data (header promises ", payload, " bytes of ",
              idx_type_name(out.type), ", file has ", available, ")");
  HPCNN_CHECK(available == payload, name, ": IDX size mismatch (header promises ", payload, " bytes, file has ",
              available, " after the header)");
  out.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(header), file.end());
  // IDX is big-endian; convert multi-byte elements to host (little-endian) order.
  if (element_size > 1) {
    for (size_t i = 0; i < out.bytes.size(); i += element_size) {
      std::reverse(out.bytes.begin() + static_cast<std::ptrdiff_t>(i),
                   out.bytes.begin() + static_cast<std::ptrdiff_t>(i + element_size));
    }
  }
  return out;
}

std::vector<uint8_t> read_maybe_gzip(const std::filesystem::path& path, uint64_t max_bytes) {
  std::ifstream probe(path, std::ios::binary);
  HPCNN_CHECK(probe.good(), path.string(), ": cannot open: ", std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  probe.read(reinterpret_cast<char*>(magic), 2);
  const bool gzip = probe.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  probe.close();

  std::vector<uint8_t> out;
  if (!gzip) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    HPCNN_CHECK(!ec, path.string(), ": ", ec.message());
    HPCNN_CHECK(size <= max_bytes, path.string(), ": file too large (", size, " bytes)");
    out.resize(size);
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
    HPCNN_CHECK(static_cast<uint64_t>(in.gcount()) == size, path.string(), ": read error");
    return out;
  }

  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), gzclose);
  HPCNN_CHECK(gz != nullptr, path.string(), ": cannot open gzip stream");
  gzbuffer(gz.get(), 1 << 17);
  constexpr size_t kBlock = 1 << 20;
  size_t used = 0;
  for (;;) {
    out.resize(used + kBlock);
    const int n = gzread(gz.get(), out.data() + used, kBlock);
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(gz.get(), &code);
      HPCNN_THROW(path.string(), ": corrupt gzip data (", msg, ")");
    }
    used += static_cast<size_t>(n);
    HPCNN_CHECK(used <= max_bytes, path.string(), ": decompressed data too large");
    if (n == 0) break;
  }
  // gzread returns 0 both at a clean end and at a truncated stream; tell them apart.
  int code = Z_OK;
  const char* msg = gzerror(gz.get(), &code);
  HPCNN_CHECK(code == Z_OK || code == Z_STREAM_END, path.string(), ": corrupt or truncated gzip data (", msg, ")");
  out.resize(used);
  return out;
}

IdxArray read_idx(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_maybe_gzip(path);
  return parse_idx(bytes, path.string());
}

}  // namespace hpcnn::data
