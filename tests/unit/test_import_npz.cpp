// .npz members are bounded before they are inflated (issue 26.15): the size
// the zip directory declares (each, in all, and against a bomb's compression
// ratio), the .npy header's shape against that size, and inflation stops at it.
// The archives are built here byte by byte, as np.savez lays them out.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/import_npz.hpp"
#include "test_helpers.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
namespace fs = std::filesystem;

namespace {
void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

/// A .npy header (version 1.0, padded to 128 bytes) for `descr` and `shape`.
std::vector<uint8_t> npy_header(const std::string& descr, const std::string& shape) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  dict.resize(128 - 10 - 1, ' ');
  dict += '\n';
  std::vector<uint8_t> h{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  put16(h, static_cast<uint32_t>(dict.size()));
  h.insert(h.end(), dict.begin(), dict.end());
  return h;
}

/// A fresh raw deflate stream of `bytes`, ended by a full flush (byte-aligned,
/// no reference to anything before: copies concatenate) or finished.
std::vector<uint8_t> deflate_raw(const uint8_t* bytes, size_t n, int flush) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(n)) + 64);
  z.next_in = const_cast<Bytef*>(bytes);
  z.avail_in = static_cast<uInt>(n);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, flush) == (flush == Z_FINISH ? Z_STREAM_END : Z_OK));
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

struct Member {
  std::string name;
  uint16_t method = 8;
  uint32_t crc = 0;
  uint32_t usize = 0;         ///< as declared
  std::vector<uint8_t> data;  ///< as stored (deflated for method 8)
};

/// A zip of `members`: local headers and data, the central directory, the end record.
std::vector<uint8_t> zip(const std::vector<Member>& members) {
  std::vector<uint8_t> z, cd;
  for (const Member& m : members) {
    const auto local = static_cast<uint32_t>(z.size());
    const auto csize = static_cast<uint32_t>(m.data.size());
    put32(z, 0x04034b50);
    for (uint32_t v : {20u, 0u, uint32_t{m.method}, 0u, 0u}) put16(z, v);
    put32(z, m.crc);
    put32(z, csize);
    put32(z, m.usize);
    put16(z, static_cast<uint32_t>(m.name.size()));
    put16(z, 0);
    z.insert(z.end(), m.name.begin(), m.name.end());
    z.insert(z.end(), m.data.begin(), m.data.end());
    put32(cd, 0x02014b50);
    for (uint32_t v : {20u, 20u, 0u, uint32_t{m.method}, 0u, 0u}) put16(cd, v);
    put32(cd, m.crc);
    put32(cd, csize);
    put32(cd, m.usize);
    for (uint32_t v : {static_cast<uint32_t>(m.name.size()), 0u, 0u, 0u, 0u}) put16(cd, v);
    put32(cd, 0);
    put32(cd, local);
    cd.insert(cd.end(), m.name.begin(), m.name.end());
  }
  const auto cd_offset = static_cast<uint32_t>(z.size());
  z.insert(z.end(), cd.begin(), cd.end());
  put32(z, 0x06054b50);
  for (uint32_t v : {0u, 0u, static_cast<uint32_t>(members.size()), static_cast<uint32_t>(members.size())}) put16(z, v);
  put32(z, static_cast<uint32_t>(cd.size()));
  put32(z, cd_offset);
  put16(z, 0);
  return z;
}

/// A deflated uint8 .npy member of `count` zeros, built without compressing
/// them: the header, then one full-flush block of 1 MiB of zeros repeated,
/// then the rest; its CRC-32 combined from the parts'.
Member zeros_member(const std::string& name, uint64_t count) {
  const std::vector<uint8_t> header = npy_header("|u1", "(" + std::to_string(count) + ",)");
  constexpr uint64_t kBlock = 1 << 20;
  const std::vector<uint8_t> zeros(kBlock, 0);
  Member m;
  m.name = name;
  m.usize = static_cast<uint32_t>(header.size() + count);
  REQUIRE(m.usize == header.size() + count);
  m.data = deflate_raw(header.data(), header.size(), Z_FULL_FLUSH);
  const std::vector<uint8_t> block = deflate_raw(zeros.data(), kBlock, Z_FULL_FLUSH);
  uLong crc = crc32(0L, header.data(), static_cast<uInt>(header.size()));
  const uLong block_crc = crc32(0L, zeros.data(), static_cast<uInt>(kBlock));
  for (uint64_t k = 0; k < count / kBlock; ++k) {
    m.data.insert(m.data.end(), block.begin(), block.end());
    crc = crc32_combine(crc, block_crc, static_cast<z_off_t>(kBlock));
  }
  const auto rest = static_cast<size_t>(count % kBlock);
  const std::vector<uint8_t> tail = deflate_raw(zeros.data(), rest, Z_FINISH);
  m.data.insert(m.data.end(), tail.begin(), tail.end());
  m.crc = static_cast<uint32_t>(
      crc32_combine(crc, crc32(0L, zeros.data(), static_cast<uInt>(rest)), static_cast<z_off_t>(rest)));
  return m;
}

std::string error_of_read(const fs::path& path) {
  try {
    read_npz(path);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}
}  // namespace

TEST_CASE("import-npz: members built here read back, stored and deflated", "[import][npz]") {
  test::ScratchDir dir("npz-ok");
  Member small = zeros_member("x.npy", 5000);
  std::vector<uint8_t> raw = npy_header("|u1", "(4,)");
  raw.insert(raw.end(), {1, 2, 3, 4});
  const Member stored{"y.npy", 0, static_cast<uint32_t>(crc32(0L, raw.data(), static_cast<uInt>(raw.size()))),
                      static_cast<uint32_t>(raw.size()), raw};
  test::write_bytes(dir / "ok.npz", zip({small, stored}));
  const auto arrays = read_npz(dir / "ok.npz");
  REQUIRE(arrays.size() == 2);
  CHECK(arrays.at("x").element_count() == 5000);
  CHECK(arrays.at("y").bytes == std::vector<uint8_t>{1, 2, 3, 4});
}

TEST_CASE("import-npz: a 4 MB member declaring 4 GB is refused before it is inflated", "[import][npz][bad-input]") {
  test::ScratchDir dir("npz-bomb");
  // 4,000,000,000 zeros deflate to about 4 MB (deflate's limit is 1032:1).
  // Before, read_npz allocated the 4 GB it declared and inflated it all
  // before any check (only 8 GiB per member was the limit).
  const Member bomb = zeros_member("x.npy", 4'000'000'000);
  CHECK(bomb.data.size() < 5'000'000);
  test::write_bytes(dir / "bomb.npz", zip({bomb}));
  const std::string message = error_of_read(dir / "bomb.npz");
  CHECK_THAT(message, Catch::Contains("member x.npy declares 4000000128 bytes from " +
                                      std::to_string(bomb.data.size()) + " compressed"));
  CHECK_THAT(message, Catch::Contains("decompression bomb"));
}

TEST_CASE("import-npz: the .npy header's shape must need the size the zip directory declares",
          "[import][npz][bad-input]") {
  test::ScratchDir dir("npz-shape");
  // The header claims 10^8 values; the member (and its directory entry) holds 10.
  std::vector<uint8_t> raw = npy_header("|u1", "(100000000,)");
  raw.resize(raw.size() + 10, 7);
  Member m{"x.npy", 8, static_cast<uint32_t>(crc32(0L, raw.data(), static_cast<uInt>(raw.size()))),
           static_cast<uint32_t>(raw.size()), deflate_raw(raw.data(), raw.size(), Z_FINISH)};
  test::write_bytes(dir / "shape.npz", zip({m}));
  CHECK_THAT(error_of_read(dir / "shape.npz"),
             Catch::Contains("x.npy: shape (100000000,) of uint8 needs 100000128 bytes with its header but the zip "
                             "directory declares 138"));
}

TEST_CASE("import-npz: inflating stops at the size the directory declares", "[import][npz][bad-input]") {
  test::ScratchDir dir("npz-past");
  // A member whose stream holds a million zeros but whose directory entry
  // (and header) declare 1000: it fills 1128 bytes, then is refused.
  Member m = zeros_member("x.npy", 1'000'000);
  const std::vector<uint8_t> header = npy_header("|u1", "(1000,)");
  m.data = deflate_raw(header.data(), header.size(), Z_FULL_FLUSH);
  const std::vector<uint8_t> zeros(1'000'000, 0);
  const std::vector<uint8_t> body = deflate_raw(zeros.data(), zeros.size(), Z_FINISH);
  m.data.insert(m.data.end(), body.begin(), body.end());
  m.usize = 1128;
  test::write_bytes(dir / "past.npz", zip({m}));
  CHECK_THAT(error_of_read(dir / "past.npz"),
             Catch::Contains("member x.npy is damaged (it inflates past the size its directory entry declares"));
}
