// Shared by the libFuzzer harnesses: scratch files for parsers that take a
// path, and the rule for what counts as a finding.
//
// A harness feeds bytes to one parser of untrusted input. The parser may
// refuse them only with hpcnn::Error or hpcnn::UsageError (a message naming
// what is wrong); anything else escaping — std::bad_alloc, std::out_of_range
// from a bare stoi, a JSON library exception — is a finding like a crash:
// it aborts, and libFuzzer saves the input.
#pragma once

#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.hpp"

namespace hpcnn::fuzz {

/// A directory of this process's own under the temp dir, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = std::filesystem::temp_directory_path() / ("hpcnn-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("hpcnn-fuzz-" + std::to_string(getpid())),
                                  ec);
    });
    return d;
  }();
  return dir;
}

/// Writes the input to `path` (truncating).
inline void write_input(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

/// Runs `parse`; the two refusals hpcnn promises are fine, anything else escapes.
template <typename F>
void expect_clean(F&& parse) {
  try {
    parse();
  } catch (const Error&) {
  } catch (const UsageError&) {
  }
}

/// Aborts (a finding) when an HDF5 file, dataset, attribute or other object
/// is still open: every handle hpcnn opens must be closed on every path, even
/// when it refuses a file. Stands in for LeakSanitizer on HDF5's allocations.
inline void require_no_open_hdf5() {
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) std::abort();
}

}  // namespace hpcnn::fuzz
