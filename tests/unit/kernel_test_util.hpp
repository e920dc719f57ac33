// Helpers for kernel tests: random buffers, device round trips, geometries.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend.hpp"
#include "core/rng.hpp"

namespace hpcnn::test {

inline std::vector<float> random_vector(int64_t n, uint64_t key, float lo = -1.0f, float hi = 1.0f) {
  Rng rng(key);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

/// Device memory of a backend holding a copy of host data; freed on scope exit.
class DeviceVector {
 public:
  DeviceVector(kernels::Backend& b, const std::vector<float>& host) : b_(b), n_(static_cast<int64_t>(host.size())) {
    p_ = b_.allocate(n_);
    b_.upload(p_, host.data(), n_);
  }
  DeviceVector(kernels::Backend& b, int64_t n) : b_(b), n_(n) { p_ = b_.allocate(n_); }
  ~DeviceVector() { b_.release(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  float* get() const { return p_; }
  std::vector<float> host() const {
    std::vector<float> v(static_cast<size_t>(n_));
    b_.download(v.data(), p_, n_);
    return v;
  }

 private:
  kernels::Backend& b_;
  int64_t n_;
  float* p_;
};

/// Geometry of a square-kernel convolution with TensorFlow "same" or "valid" padding.
inline kernels::ConvGeometry conv_geometry(int64_t n, int64_t ic, int64_t ih, int64_t iw, int64_t oc, int64_t k,
                                           int64_t stride, bool same) {
  kernels::ConvGeometry g{n, ic, ih, iw, oc, k, k, stride, 0, 0, 0, 0, 0, 0};
  auto dim = [&](int64_t in, int64_t& before, int64_t& after) {
    if (!same) return (in - k) / stride + 1;
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + k - in, 0);
    before = total / 2;
    after = total - before;
    return out;
  };
  g.oh = dim(ih, g.pad_top, g.pad_bottom);
  g.ow = dim(iw, g.pad_left, g.pad_right);
  return g;
}

/// The largest absolute difference over the largest magnitude of `want`
/// (infinity when the sizes differ): one scale for a whole output.
inline double worst_relative(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double worst = 0, scale = 1e-30;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return worst / scale;
}

}  // namespace hpcnn::test
