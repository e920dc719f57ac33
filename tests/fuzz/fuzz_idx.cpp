// Fuzzes the IDX reader (data/idx.cpp): gzip detection and inflation, header,
// dimension products and payload size. Seeds: tiny images/labels files, raw
// and gzipped.
#include "data/idx.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  // In memory, as import-idx sees a file's bytes.
  fuzz::expect_clean([&] { data::parse_idx({data, size}, "input.idx"); });
  // Through a file, which adds gzip: a bound keeps a gzip bomb from eating memory.
  const auto path = fuzz::scratch_dir() / "input.idx";
  fuzz::write_input(path, data, size);
  fuzz::expect_clean([&] {
    const std::vector<uint8_t> bytes = data::read_maybe_gzip(path, uint64_t{16} << 20);
    data::parse_idx(bytes, path.string());
  });
  return 0;
}
