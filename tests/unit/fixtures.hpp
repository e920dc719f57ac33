// The unit tests' shared fixtures, in one header instead of copies: scratch
// directories, file and IDX builders, toy splits, a quiet logger and random
// batches for a model; the kernel fixtures (random buffers, device vectors,
// conv geometries) from kernel_test_util.hpp, kept apart because tests/gpu
// builds it without the model and data libraries.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "kernel_test_util.hpp"
#include "model/model.hpp"

namespace hpcnn::test {

/// A logger that prints nothing, for the calls that take one.
inline const Logger kQuiet(LogLevel::kQuiet);

/// A fresh directory under the system temp dir, removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("hpcnn-test-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Builds an IDX image: header with `dims` and type code, then `payload`.
inline std::vector<uint8_t> make_idx(uint8_t type, const std::vector<uint32_t>& dims,
                                     const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    out.push_back(static_cast<uint8_t>(d >> 24));
    out.push_back(static_cast<uint8_t>(d >> 16));
    out.push_back(static_cast<uint8_t>(d >> 8));
    out.push_back(static_cast<uint8_t>(d));
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// n images of h x w where pixel (i, y, x) = (i * 7 + y * 3 + x) % 256, and labels i % classes.
inline void write_idx_pair(const std::filesystem::path& images, const std::filesystem::path& labels, uint32_t n,
                           uint32_t h, uint32_t w, int classes) {
  std::vector<uint8_t> pixels;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) pixels.push_back(static_cast<uint8_t>((i * 7 + y * 3 + x) % 256));
  std::vector<uint8_t> label_bytes;
  for (uint32_t i = 0; i < n; ++i) label_bytes.push_back(static_cast<uint8_t>(i % static_cast<uint32_t>(classes)));
  write_bytes(images, make_idx(0x08, {n, h, w}, pixels));
  write_bytes(labels, make_idx(0x08, {n}, label_bytes));
}

/// A split of shards of `sizes` samples laid end to end (no files behind it).
inline data::SplitInfo split_of(const std::vector<int64_t>& sizes) {
  data::SplitInfo s;
  int64_t first = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    s.shards.push_back({"s" + std::to_string(i), sizes[i], first, ""});
    first += sizes[i];
  }
  return s;
}

/// Writes `text` to `path`, making its directories.
inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// `n` samples of uniform [0, 1) inputs for `m`, with random labels
/// (classification) or one uniform target per output (regression); global
/// sample indices first_index, first_index + 1, ...
inline data::Batch random_batch(const model::ModelSpec& m, int64_t n, model::LossKind loss, uint64_t key,
                                int64_t first_index = 0) {
  Rng rng(key);
  data::Batch b;
  b.count = n;
  b.samples.resize(static_cast<size_t>(n * m.input.size()));
  for (float& x : b.samples) x = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < n; ++i) {
    b.indices.push_back(first_index + i);
    if (loss == model::LossKind::kSoftmaxCrossEntropy) {
      b.labels.push_back(static_cast<int32_t>(rng.uniform_index(static_cast<uint64_t>(m.output().size()))));
    } else {
      for (int64_t t = 0; t < m.output().size(); ++t) b.targets.push_back(static_cast<float>(rng.uniform()));
    }
  }
  return b;
}

/// An environment variable set for one scope, unset after it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

/// A small MobileNetV2-like network (conv, 1x1, depthwise, a residual add, a
/// pad, a strided depthwise, global pool, dense) for the inference engine's
/// tests, on a (3, 20, 20) input.
inline const char* const kMobileLike =
    "conv:16x3:s2:same:nobias bn relu6@s conv:32x1:nobias bn relu6 dwconv:3:same:nobias bn relu6 "
    "conv:16x1:nobias bn add:s zeropad:0:1:0:1 dwconv:3:s2:nobias bn relu6 conv:24x1 bn relu6 gap dense:10";

}  // namespace hpcnn::test
