// Every CUDA kernel launch's grid, computed in one place that checks CUDA's
// limits (issue 28.3), CUDA-free so the CPU-only unit tests check it on the
// largest shapes the presets make (tests/unit/test_cuda_logic.cpp); the one
// helper that launches with them is launch_on in cuda_kernels.cu.
//
// The limits (CUDA C++ Programming Guide, "Compute capabilities", every
// architecture since 3.0): gridDim.x <= 2^31 - 1, gridDim.y and gridDim.z
// <= 65535, 1024 threads per block. hpcnn's kernels use 1-D grids only (x),
// index with 64-bit arithmetic (blockIdx.x * int64_t{blockDim.x} +
// threadIdx.x), so an element count up to (2^31 - 1) * 256 fits; a zero-size
// grid is an invalid configuration, refused here by name rather than by
// cudaGetLastError's "invalid configuration argument".
#pragma once

#include <cstdint>

#include "core/check.hpp"

namespace hpcnn::kernels::launch {

inline constexpr int64_t kMaxGridX = (int64_t{1} << 31) - 1;
inline constexpr int64_t kMaxGridYZ = 65535;
inline constexpr int kMaxBlock = 1024;
/// Threads per block of the element-wise kernels.
inline constexpr int kThreads = 256;

struct Config {
  uint32_t grid_x = 1, grid_y = 1, grid_z = 1;
  uint32_t block = kThreads;
};

/// A grid of (x, y, z) blocks of `block` threads, checked against the limits.
inline Config grid(int64_t x, int64_t y, int64_t z, int block, const char* kernel) {
  HPCNN_CHECK(block > 0 && block <= kMaxBlock, "CUDA launch of ", kernel, ": ", block, " threads per block (limit ",
              kMaxBlock, ")");
  HPCNN_CHECK(x > 0 && y > 0 && z > 0, "CUDA launch of ", kernel, ": an empty grid (", x, ", ", y, ", ", z, ")");
  HPCNN_CHECK(x <= kMaxGridX, "CUDA launch of ", kernel, ": ", x, " blocks in x (limit ", kMaxGridX, ")");
  HPCNN_CHECK(y <= kMaxGridYZ && z <= kMaxGridYZ, "CUDA launch of ", kernel, ": ", y, " x ", z,
              " blocks in y x z (limit ", kMaxGridYZ, " each)");
  return {static_cast<uint32_t>(x), static_cast<uint32_t>(y), static_cast<uint32_t>(z), static_cast<uint32_t>(block)};
}

/// One thread per element of `n`: ceil(n / kThreads) blocks in x.
inline Config per_element(int64_t n, const char* kernel) {
  HPCNN_CHECK(n > 0, "CUDA launch of ", kernel, ": ", n, " elements");
  return grid((n + kThreads - 1) / kThreads, 1, 1, kThreads, kernel);
}

/// One block of `threads` per channel (the per-channel reduction tree).
inline Config per_channel(int64_t channels, int threads, const char* kernel) {
  return grid(channels, 1, 1, threads, kernel);
}

}  // namespace hpcnn::kernels::launch
