// IDX parser: good files of every type, gzip, and each kind of bad input.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "core/error.hpp"
#include "data/idx.hpp"
#include "fixtures.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
using hpcnn::test::make_idx;

namespace {
std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    parse_idx(bytes, "sample.idx");
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}
}  // namespace

TEST_CASE("IDX: unsigned bytes parse with their dimensions", "[idx]") {
  const auto file = make_idx(0x08, {2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const IdxArray a = parse_idx(file, "x");
  CHECK(a.type == IdxType::kUInt8);
  CHECK(a.dims == std::vector<uint64_t>{2, 3, 2});
  CHECK(a.element_count() == 12);
  CHECK(a.bytes == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

TEST_CASE("IDX: multi-byte elements are converted from big-endian", "[idx]") {
  // int32 0x01020304 and float32 1.5f (0x3FC00000), big-endian on disk.
  const IdxArray i = parse_idx(make_idx(0x0C, {1}, {0x01, 0x02, 0x03, 0x04}), "i");
  int32_t iv = 0;
  std::memcpy(&iv, i.bytes.data(), 4);
  CHECK(iv == 0x01020304);
  const IdxArray f = parse_idx(make_idx(0x0D, {1}, {0x3F, 0xC0, 0x00, 0x00}), "f");
  float fv = 0;
  std::memcpy(&fv, f.bytes.data(), 4);
  CHECK(fv == 1.5f);
}

TEST_CASE("IDX: a zero dimension means no elements", "[idx]") {
  const IdxArray a = parse_idx(make_idx(0x08, {0, 28, 28}, {}), "empty");
  CHECK(a.element_count() == 0);
  CHECK(a.bytes.empty());
}

TEST_CASE("IDX: wrong magic number is rejected naming the file", "[idx][bad-input]") {
  auto file = make_idx(0x08, {1}, {7});
  file[0] = 0x1f;
  CHECK_THAT(error_of(file), Catch::Contains("sample.idx") && Catch::Contains("bad magic number"));
  auto bad_type = make_idx(0x08, {1}, {7});
  bad_type[2] = 0x07;
  CHECK_THAT(error_of(bad_type), Catch::Contains("bad magic number"));
  CHECK_THAT(error_of({0, 0}), Catch::Contains("not an IDX file"));
}

TEST_CASE("IDX: truncated header or data is rejected", "[idx][bad-input]") {
  auto header = make_idx(0x08, {2, 2}, {});
  header.resize(8);  // second dimension cut off
  CHECK_THAT(error_of(header), Catch::Contains("truncated IDX header"));
  CHECK_THAT(error_of(make_idx(0x08, {2, 2}, {1, 2, 3})), Catch::Contains("truncated IDX data"));
  CHECK_THAT(error_of(make_idx(0x0C, {2}, {0, 0, 0, 1, 0, 0})), Catch::Contains("truncated IDX data"));
}

TEST_CASE("IDX: payload longer than the header promises is rejected", "[idx][bad-input]") {
  CHECK_THAT(error_of(make_idx(0x08, {2}, {1, 2, 3})), Catch::Contains("size mismatch"));
}

TEST_CASE("IDX: dimensions whose product overflows are rejected", "[idx][bad-input]") {
  // 0xFFFFFFFF^3 * 8 bytes does not fit in 64 bits.
  CHECK_THAT(error_of(make_idx(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {})), Catch::Contains("overflow"));
  // Fits in 64 bits but is far larger than the file: a truncation, not a crash.
  CHECK_THAT(error_of(make_idx(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu}, {1})), Catch::Contains("truncated IDX data"));
}

TEST_CASE("IDX: zero dimensions in the header is rejected", "[idx][bad-input]") {
  CHECK_THAT(error_of({0, 0, 8, 0}), Catch::Contains("0 dimensions"));
}

TEST_CASE("IDX: gzip files are read transparently, corrupt gzip is an error", "[idx]") {
  test::ScratchDir dir("idx");
  const auto raw = make_idx(0x08, {3}, {9, 8, 7});
  const auto gz_path = dir / "x.idx.gz";
  {
    gzFile gz = gzopen(gz_path.c_str(), "wb");
    REQUIRE(gz != nullptr);
    gzwrite(gz, raw.data(), static_cast<unsigned>(raw.size()));
    gzclose(gz);
  }
  CHECK(read_idx(gz_path).bytes == std::vector<uint8_t>{9, 8, 7});

  // Cut the compressed stream in half: the reader must not return a short array silently.
  std::vector<uint8_t> compressed = read_maybe_gzip(gz_path, 1 << 20);  // decompressed
  std::ifstream in(gz_path, std::ios::binary);
  std::vector<uint8_t> gz_bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz_bytes.resize(gz_bytes.size() / 2);
  const auto cut = dir / "cut.idx.gz";
  test::write_bytes(cut, gz_bytes);
  CHECK_THROWS_WITH(read_idx(cut), Catch::Contains("cut.idx.gz"));
  CHECK(compressed == raw);
}

TEST_CASE("IDX: a missing file is an error naming it", "[idx][bad-input]") {
  CHECK_THROWS_WITH(read_idx("/nonexistent/t10k.idx"), Catch::Contains("/nonexistent/t10k.idx"));
}
