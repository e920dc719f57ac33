// Every all-reduce algorithm over the grid of element counts 0, 1, p-1, p+1
// and 1,000,003, at whatever rank count ctest started us with (1..8):
// integer-valued inputs sum exactly; random inputs agree with a fixed-order
// reference sum and with MPI_Allreduce; all ranks hold bitwise the same result.
#include <mpi.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "comm/allreduce.hpp"
#include "core/rng.hpp"
#include "mpi_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::comm;
using hpcnn::test::identical_everywhere;

namespace {
std::vector<int64_t> grid(int p) { return {0, 1, std::max(p - 1, 0), p + 1, 1000003}; }

/// Rank r's input: integers when `integers`, else uniform in [-1, 1).
std::vector<float> input(int r, int64_t n, bool integers) {
  std::vector<float> v(static_cast<size_t>(n));
  Rng rng(derive_key({77, static_cast<uint64_t>(r)}));
  for (int64_t i = 0; i < n; ++i) {
    v[static_cast<size_t>(i)] =
        integers ? static_cast<float>((r + 1) * (i % 13) - 6) : static_cast<float>(rng.uniform(-1, 1));
  }
  return v;
}

void check_algorithm(Communicator& comm, AllreduceAlgo algo) {
  const int p = comm.size();
  for (int64_t n : grid(p)) {
    INFO(allreduce_name(algo) << ", " << p << " ranks, " << comm.num_nodes() << " nodes, " << n << " floats");
    // Integers: exact whatever the summation order.
    std::vector<float> ints = input(comm.rank(), n, true);
    allreduce(comm, algo, ints.data(), n);
    bool exact = true;
    for (int64_t i = 0; i < n; ++i) {
      double want = 0;
      for (int r = 0; r < p; ++r) want += static_cast<double>((r + 1) * (i % 13) - 6);
      exact = exact && ints[static_cast<size_t>(i)] == static_cast<float>(want);
    }
    CHECK(exact);
    // Random floats: close to the fixed-order sum and to MPI_Allreduce, identical on all ranks.
    std::vector<float> mine = input(comm.rank(), n, false), lib = mine;
    allreduce(comm, algo, mine.data(), n);
    if (n > 0) MPI_Allreduce(MPI_IN_PLACE, lib.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, comm.comm());
    std::vector<double> reference(static_cast<size_t>(n), 0.0);
    for (int r = 0; r < p; ++r) {
      const auto v = input(r, n, false);
      for (int64_t i = 0; i < n; ++i) reference[static_cast<size_t>(i)] += v[static_cast<size_t>(i)];
    }
    double worst_ref = 0, worst_lib = 0;
    for (int64_t i = 0; i < n; ++i) {
      worst_ref = std::max(worst_ref, std::abs(mine[static_cast<size_t>(i)] - reference[static_cast<size_t>(i)]));
      worst_lib = std::max(worst_lib,
                           std::abs(static_cast<double>(mine[static_cast<size_t>(i)]) - lib[static_cast<size_t>(i)]));
    }
    // p values in [-1, 1): float rounding bounds the error by about p * 2^-23 * p.
    CHECK(worst_ref <= 1e-6 * p * p + 1e-7);
    CHECK(worst_lib <= 2e-6 * p * p + 1e-7);
    CHECK(identical_everywhere(mine, comm.comm()));
  }
}
}  // namespace

TEST_CASE("All-reduce algorithms: exact, close to the reference, identical on all ranks", "[mpi][allreduce]") {
  Communicator comm(MPI_COMM_WORLD);
  for (AllreduceAlgo algo : all_allreduce_algos()) check_algorithm(comm, algo);
  check_algorithm(comm, AllreduceAlgo::kAuto);
}

TEST_CASE("Hierarchical all-reduce over pretend nodes of 2 ranks (uneven when p is odd)", "[mpi][allreduce]") {
  Communicator comm(MPI_COMM_WORLD, 2);
  int p = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  CHECK(comm.num_nodes() == (p + 1) / 2);
  check_algorithm(comm, AllreduceAlgo::kHier);
  check_algorithm(comm, AllreduceAlgo::kAuto);
  if (comm.num_nodes() > 1) {
    std::vector<float> v(8, 1.0f);
    CHECK_THROWS_WITH(allreduce(comm, AllreduceAlgo::kShm, v.data(), 8), Catch::Contains("use hier"));
  }
}

TEST_CASE("All-reduce names parse and print", "[allreduce]") {
  for (AllreduceAlgo a : all_allreduce_algos()) CHECK(parse_allreduce(allreduce_name(a)) == a);
  CHECK(parse_allreduce("auto") == AllreduceAlgo::kAuto);
  CHECK_THROWS_WITH(parse_allreduce("butterfly"), Catch::Contains("unknown all-reduce algorithm 'butterfly'"));
}
