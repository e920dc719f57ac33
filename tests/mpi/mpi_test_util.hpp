// Helpers shared by the MPI tests (one copy here instead of one per test file).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/rng.hpp"

namespace hpcnn::test {

/// True on every rank when all ranks hold the same bytes (an FNV-1a hash,
/// compared by its minimum and maximum over the ranks).
inline bool identical_everywhere(const std::vector<float>& v, MPI_Comm c) {
  uint64_t h = 1469598103934665603ULL;
  for (float x : v) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    h = (h ^ bits) * 1099511628211ULL;
  }
  uint64_t lo = h, hi = h;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, c);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, c);
  return lo == hi;
}

/// Rank `r`'s `n` floats, uniform in [-1, 1), drawn from the stream (seed, r):
/// the same values on every run and every rank count.
inline std::vector<float> random_floats(uint64_t seed, int r, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  Rng rng(derive_key({seed, static_cast<uint64_t>(r)}));
  for (float& x : v) x = static_cast<float>(rng.uniform(-1, 1));
  return v;
}

/// True when the `n` floats at `a` and `b` are the same bytes (bitwise, so
/// -0 differs from +0 and a NaN equals itself).
inline bool same_bytes(const float* a, const float* b, int64_t n) {
  return n == 0 || std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}
inline bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace hpcnn::test
