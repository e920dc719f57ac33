// Helpers shared by the MPI tests.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <vector>

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

}  // namespace hpcnn::test
