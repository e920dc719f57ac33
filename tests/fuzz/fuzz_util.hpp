// Shared by the libFuzzer harnesses: scratch files for parsers that take a
// path, and the rule for what counts as a finding.
//
// A harness feeds bytes to one parser of untrusted input. The parser may
// refuse them only with hpcnn::Error or hpcnn::UsageError (a message naming
// what is wrong); anything else escaping — std::bad_alloc, std::out_of_range
// from a bare stoi, a JSON library exception — is a finding like a crash:
// it aborts, and libFuzzer saves the input.
#pragma once

#include <fcntl.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <cerrno>
#include <initializer_list>

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

namespace detail {
inline herr_t read_attribute(hid_t obj, const char* name, const H5A_info_t*, void*) {
  const hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return 0;
  const hid_t type = H5Aget_type(a), space = H5Aget_space(a);
  const hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  const size_t bytes = type >= 0 ? H5Tget_size(type) : 0;
  if (n >= 0 && bytes > 0 && static_cast<double>(n) * static_cast<double>(bytes) < 1e7 &&
      H5Tget_class(type) != H5T_STRING && H5Tget_class(type) != H5T_VLEN) {
    std::string buffer(static_cast<size_t>(n) * bytes + 1, '\0');
    H5Aread(a, type, buffer.data());
  }
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  H5Aclose(a);
  return 0;
}
inline herr_t visit_object(hid_t obj, const char* name, const H5O_info_t* info, void*) {
  H5Aiterate_by_name(obj, name, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, read_attribute, nullptr, H5P_DEFAULT);
  if (info->type == H5O_TYPE_DATASET) {
    const hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d >= 0) {
      const hid_t space = H5Dget_space(d), type = H5Dget_type(d);
      const hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
      const size_t bytes = type >= 0 ? H5Tget_size(type) : 0;
      if (n >= 0 && bytes > 0 && static_cast<double>(n) * static_cast<double>(bytes) < 64e6) {
        std::string buffer(static_cast<size_t>(n) * bytes + 1, '\0');
        H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data());
      }
      if (type >= 0) H5Tclose(type);
      if (space >= 0) H5Sclose(space);
      H5Dclose(d);
    }
  }
  return 0;
}
}  // namespace detail

/// Whether libhdf5 itself survives `path`: a child process opens it, looks up
/// `names`, visits every object and reads every attribute and dataset, with
/// libhdf5 alone (no hpcnn code). libhdf5 1.10.8 crashes on some damaged
/// files (docs/fuzzing.md, tests/fuzz/libhdf5-crashes/) and loops for a long
/// time on others (a mutated shard kept the child busy past libFuzzer's
/// 11-second timeout): the child gets kLibhdf5Seconds, then SIGALRM ends it.
/// The HDF5 harnesses skip the inputs libhdf5 does not survive, so every
/// crash or hang they report involves hpcnn's code.
inline constexpr unsigned kLibhdf5Seconds = 3;
inline bool libhdf5_survives(const std::filesystem::path& path, std::initializer_list<const char*> names) {
  const pid_t child = fork();
  if (child < 0) return true;  // cannot tell: let the harness run it
  if (child == 0) {
    // libFuzzer's SIGALRM handler (inherited) would ignore an early alarm:
    // restore the default action, which ends the process.
    signal(SIGALRM, SIG_DFL);
    alarm(kLibhdf5Seconds);
    // Quiet: a sanitizer report from inside libhdf5 here is expected, not a finding.
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      for (const char* name : names) H5Lexists(f, name, H5P_DEFAULT);
      H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, detail::visit_object, nullptr, H5O_INFO_BASIC);
      H5Fclose(f);
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// Aborts (a finding) when an HDF5 file, dataset, attribute or other object
/// is still open: every handle hpcnn opens must be closed on every path, even
/// when it refuses a file. Stands in for LeakSanitizer on HDF5's allocations.
inline void require_no_open_hdf5() {
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) std::abort();
}

}  // namespace hpcnn::fuzz
