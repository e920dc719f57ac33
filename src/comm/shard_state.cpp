// Gathering and scattering a sharded optimizer's state (see shard_state.hpp).
#include "comm/shard_state.hpp"

#include <mpi.h>

#include <algorithm>
#include <limits>

#include "core/check.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

namespace {
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

int as_int(int64_t n, const char* what) {
  HPCNN_CHECK(n >= 0 && n <= kIntMax, "gather_shard: ", n, " ", what, " do not fit one MPI message");
  return static_cast<int>(n);
}
}  // namespace

std::vector<float> gather_shard(Communicator& comm, std::span<const Range> slices, std::span<const float> packed,
                                int64_t count, int root) {
  int64_t mine = 0;
  for (const auto& [first, last] : slices) {
    HPCNN_CHECK(first >= 0 && first <= last && last <= count, "gather_shard: slice [", first, ", ", last, ") outside ",
                count, " floats");
    mine += last - first;
  }
  HPCNN_CHECK(mine == static_cast<int64_t>(packed.size()), "gather_shard: ", packed.size(), " values for slices of ",
              mine);
  // Checked on every rank before the gathers, so a mismatch throws everywhere instead of hanging.
  int64_t total = mine;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT64_T, MPI_SUM, comm.comm()));
  HPCNN_CHECK(total == count, "gather_shard: the ranks' slices hold ", total, " of ", count, " floats");
  const int p = comm.size();
  const bool at_root = comm.rank() == root;
  // 1. The slices, as (first, last) pairs; 2. the values.
  std::vector<int64_t> flat;
  for (const auto& [first, last] : slices) {
    flat.push_back(first);
    flat.push_back(last);
  }
  const int n_flat = as_int(static_cast<int64_t>(flat.size()), "slice bounds");
  std::vector<int> flat_counts(static_cast<size_t>(p)), value_counts(static_cast<size_t>(p));
  const int n_values = as_int(mine, "values");
  MPI_CHECK(MPI_Gather(&n_flat, 1, MPI_INT, flat_counts.data(), 1, MPI_INT, root, comm.comm()));
  MPI_CHECK(MPI_Gather(&n_values, 1, MPI_INT, value_counts.data(), 1, MPI_INT, root, comm.comm()));
  std::vector<int> flat_at(static_cast<size_t>(p), 0), value_at(static_cast<size_t>(p), 0);
  int64_t all_flat = 0, all_values = 0;
  if (at_root) {
    for (int r = 0; r < p; ++r) {
      flat_at[static_cast<size_t>(r)] = as_int(all_flat, "slice bounds");
      value_at[static_cast<size_t>(r)] = as_int(all_values, "values");
      all_flat += flat_counts[static_cast<size_t>(r)];
      all_values += value_counts[static_cast<size_t>(r)];
    }
  }
  std::vector<int64_t> all_bounds(static_cast<size_t>(all_flat));
  std::vector<float> values(static_cast<size_t>(all_values));
  MPI_CHECK(MPI_Gatherv(flat.data(), n_flat, MPI_INT64_T, all_bounds.data(), flat_counts.data(), flat_at.data(),
                        MPI_INT64_T, root, comm.comm()));
  MPI_CHECK(MPI_Gatherv(packed.data(), n_values, MPI_FLOAT, values.data(), value_counts.data(), value_at.data(),
                        MPI_FLOAT, root, comm.comm()));
  if (!at_root) return {};
  // Put every slice in place (ranks in order, each rank's slices in order)
  // and check that they tile [0, count).
  std::vector<float> full(static_cast<size_t>(count));
  std::vector<Range> seen;
  int64_t from = 0;
  for (size_t k = 0; k + 1 < all_bounds.size(); k += 2) {
    const int64_t first = all_bounds[k], last = all_bounds[k + 1];
    std::copy_n(values.begin() + from, last - first, full.begin() + first);
    from += last - first;
    if (last > first) seen.emplace_back(first, last);
  }
  std::sort(seen.begin(), seen.end());
  int64_t next = 0;
  for (const auto& [first, last] : seen) {
    HPCNN_CHECK(first == next, "gather_shard: the ranks' slices overlap or leave a gap at ", std::min(first, next));
    next = last;
  }
  return full;
}

std::vector<float> scatter_shard(std::span<const float> full, std::span<const Range> slices) {
  std::vector<float> packed;
  for (const auto& [first, last] : slices) {
    HPCNN_CHECK(first >= 0 && first <= last && last <= static_cast<int64_t>(full.size()), "scatter_shard: slice [",
                first, ", ", last, ") outside the ", full.size(), " floats saved");
    packed.insert(packed.end(), full.begin() + first, full.begin() + last);
  }
  return packed;
}

std::vector<float> scatter_shard(Communicator& comm, std::span<const Range> slices, std::span<const float> full,
                                 int64_t count, int root) {
  const bool at_root = comm.rank() == root;
  // Checked on every rank before the scatter, so a bad vector or slice throws everywhere instead of hanging.
  int64_t held = at_root ? static_cast<int64_t>(full.size()) : 0;
  MPI_CHECK(MPI_Bcast(&held, 1, MPI_INT64_T, root, comm.comm()));
  HPCNN_CHECK(held == count, "scatter_shard: rank ", root, " holds ", held, " floats, not ", count);
  std::vector<int64_t> flat;
  int64_t mine = 0;
  int inside = 1;
  for (const auto& [first, last] : slices) {
    if (!(first >= 0 && first <= last && last <= count)) inside = 0;
    flat.push_back(first);
    flat.push_back(last);
    mine += last - first;
  }
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &inside, 1, MPI_INT, MPI_MIN, comm.comm()));
  HPCNN_CHECK(inside == 1, "scatter_shard: a rank's slice lies outside the ", count, " floats");
  const int p = comm.size();
  const int n_flat = as_int(static_cast<int64_t>(flat.size()), "slice bounds");
  const int n_values = as_int(mine, "values");
  std::vector<int> flat_counts(static_cast<size_t>(p)), value_counts(static_cast<size_t>(p));
  MPI_CHECK(MPI_Gather(&n_flat, 1, MPI_INT, flat_counts.data(), 1, MPI_INT, root, comm.comm()));
  MPI_CHECK(MPI_Gather(&n_values, 1, MPI_INT, value_counts.data(), 1, MPI_INT, root, comm.comm()));
  std::vector<int> flat_at(static_cast<size_t>(p), 0), value_at(static_cast<size_t>(p), 0);
  int64_t all_flat = 0, all_values = 0;
  if (at_root) {
    for (int r = 0; r < p; ++r) {
      flat_at[static_cast<size_t>(r)] = as_int(all_flat, "slice bounds");
      value_at[static_cast<size_t>(r)] = as_int(all_values, "values");
      all_flat += flat_counts[static_cast<size_t>(r)];
      all_values += value_counts[static_cast<size_t>(r)];
    }
  }
  std::vector<int64_t> all_bounds(static_cast<size_t>(all_flat));
  MPI_CHECK(MPI_Gatherv(flat.data(), n_flat, MPI_INT64_T, all_bounds.data(), flat_counts.data(), flat_at.data(),
                        MPI_INT64_T, root, comm.comm()));
  // Root packs every rank's slices in rank order (the bounds were checked by their owners).
  std::vector<float> send;
  if (at_root) {
    send.reserve(static_cast<size_t>(all_values));
    for (size_t k = 0; k + 1 < all_bounds.size(); k += 2) {
      send.insert(send.end(), full.begin() + all_bounds[k], full.begin() + all_bounds[k + 1]);
    }
  }
  std::vector<float> packed(static_cast<size_t>(mine));
  MPI_CHECK(MPI_Scatterv(send.data(), value_counts.data(), value_at.data(), MPI_FLOAT, packed.data(), n_values,
                         MPI_FLOAT, root, comm.comm()));
  return packed;
}

}  // namespace hpcnn::comm
