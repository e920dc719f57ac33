// The gradient reducers under mpirun (1..8 ranks): for every algorithm, on
// real and pretend nodes, over the element-count grid plus multi-block sizes,
// reducing the buffer in uneven ranges started tail first (as backward
// finishes layers) gives bitwise the result of one range after backward; the
// staged reducer (through a backend's download/upload) equals the host one;
// misuse is an error, not a hang.
#include <mpi.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "backend.hpp"
#include "comm/gradient_reducer.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "mpi_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::comm;
using hpcnn::test::identical_everywhere;
using hpcnn::test::random_floats;
using hpcnn::test::same_bytes;

namespace {
/// Uneven "layers": sizes from a few floats to more than a block, the same on
/// every rank (seeded by n), as ranges [first, last) in backward order (tail first).
std::vector<std::pair<int64_t, int64_t>> layers_tail_first(int64_t n, uint64_t seed) {
  std::vector<std::pair<int64_t, int64_t>> out;
  Rng rng(derive_key({seed, static_cast<uint64_t>(n)}));
  int64_t last = n;
  while (last > 0) {
    const double u = rng.uniform();
    const int64_t size = u < 0.4 ? 1 + static_cast<int64_t>(u * 50) : static_cast<int64_t>(u * 1.6 * kReduceBlock);
    const int64_t first = std::max<int64_t>(0, last - std::max<int64_t>(size, 1));
    out.emplace_back(first, last);
    last = first;
  }
  return out;
}

void check_reducers(Communicator& comm, AllreduceAlgo algo) {
  const int p = comm.size();
  auto backend = kernels::make_reference_backend();
  auto poisoned = kernels::make_poisoned_backend();
  for (int64_t n :
       {int64_t{0}, int64_t{1}, int64_t{std::max(p - 1, 0)}, int64_t{p + 1}, int64_t{1000003}, 3 * kReduceBlock}) {
    INFO(allreduce_name(algo) << ", " << p << " ranks, " << comm.num_nodes() << " nodes, " << n << " floats");
    // Unbucketed: one range once backward is over.
    std::vector<float> whole = random_floats(91, comm.rank(), n);
    {
      auto reducer = make_host_reducer(comm, algo, whole.data(), n);
      CHECK(reducer->algo() != AllreduceAlgo::kAuto);
      reducer->start(0, n);
      const ReduceStats s = reducer->wait();
      CHECK(s.blocks == (n + kReduceBlock - 1) / kReduceBlock);
    }
    CHECK(identical_everywhere(whole, comm.comm()));
    // Bucketed, two different uneven splits, two steps each (the reducer is reused).
    for (uint64_t seed : {5u, 6u}) {
      std::vector<float> bucketed = random_floats(91, comm.rank(), n);
      auto reducer = make_host_reducer(comm, algo, bucketed.data(), n);
      for (int step = 0; step < 2; ++step) {
        if (step == 1) {  // a second step on the same buffer
          const std::vector<float> fresh = random_floats(91, comm.rank(), n);
          std::copy(fresh.begin(), fresh.end(), bucketed.begin());
        }
        for (const auto& [first, last] : layers_tail_first(n, seed)) reducer->start(first, last - first);
        reducer->wait();
        CHECK(same_bytes(bucketed, whole));
      }
    }
    // Staged through a backend's memory: the reference backend's (host
    // memory) and the poisoned test backend's, whose device pointers kill the
    // process if the reducer ever dereferences one on the host.
    for (kernels::Backend* b : {backend.get(), poisoned.get()}) {
      INFO("staged on " << b->name());
      float* device = b->allocate(n);
      const std::vector<float> in = random_floats(91, comm.rank(), n);
      b->upload(device, in.data(), n);
      {
        const int64_t buffers_before = b->transfers().host_buffers;
        auto staged = make_staged_reducer(comm, algo, *b, device, n);
        CHECK(std::string(staged->kind()) == "staged");
        // Its block buffer comes from the backend (page-locked on the GPU).
        if (b == poisoned.get()) CHECK(b->transfers().host_buffers == buffers_before + 1);
        for (const auto& [first, last] : layers_tail_first(n, 7)) staged->start(first, last - first);
        staged->wait();
      }
      CHECK(b->transfers().host_buffers == 0);  // and goes back to it
      std::vector<float> out(static_cast<size_t>(n));
      b->download(out.data(), device, n);
      b->release(device);
      CHECK(same_bytes(out, whole));
    }
  }
}
}  // namespace

TEST_CASE("reducer: bucketed = unbucketed, bitwise, every algorithm", "[mpi][reducer]") {
  Communicator comm(MPI_COMM_WORLD);
  for (AllreduceAlgo a : all_allreduce_algos()) {
    if (a == AllreduceAlgo::kShm && comm.num_nodes() > 1) continue;
    check_reducers(comm, a);
  }
  check_reducers(comm, AllreduceAlgo::kAuto);
}

TEST_CASE("reducer: bucketed = unbucketed across pretend nodes (hier's leaders path)", "[mpi][reducer]") {
  Communicator comm(MPI_COMM_WORLD, 2);
  for (AllreduceAlgo a : {AllreduceAlgo::kHier, AllreduceAlgo::kRing, AllreduceAlgo::kRhd}) check_reducers(comm, a);
}

TEST_CASE("reducer: misuse is an error on every rank, before any collective", "[mpi][reducer]") {
  Communicator comm(MPI_COMM_WORLD);
  std::vector<float> v(100, 1.0f);
  auto reducer = make_host_reducer(comm, AllreduceAlgo::kRing, v.data(), 100);
  CHECK_THROWS_AS(reducer->start(90, 20), Error);  // past the end
  reducer->start(0, 50);
  CHECK_THROWS_AS(reducer->start(40, 20), Error);  // overlaps [0, 50)
  CHECK_THROWS_WITH(reducer->wait(), Catch::Contains("before the whole buffer was started"));
  // Usable again afterwards.
  reducer->start(0, 100);
  reducer->wait();
  CHECK(v[0] == static_cast<float>(comm.size()));
}

TEST_CASE("reducer: zero-copy shm and hier (gradients inside the node window) = copying path, bitwise",
          "[mpi][reducer]") {
  for (int ranks_per_node : {0, 2}) {
    for (AllreduceAlgo algo : {AllreduceAlgo::kShm, AllreduceAlgo::kHier}) {
      for (int64_t n : {int64_t{1}, int64_t{1000003}}) {
        Communicator plain_comm(MPI_COMM_WORLD, ranks_per_node);
        if (algo == AllreduceAlgo::kShm && plain_comm.num_nodes() > 1) continue;
        INFO(allreduce_name(algo) << ", " << plain_comm.size() << " ranks, " << plain_comm.num_nodes() << " nodes, "
                                  << n << " floats");
        std::vector<float> copied = random_floats(91, plain_comm.rank(), n);
        {
          auto reducer = make_host_reducer(plain_comm, algo, copied.data(), n);
          reducer->start(0, n);
          reducer->wait();
        }
        Communicator window_comm(MPI_COMM_WORLD, ranks_per_node);
        float* window = window_comm.gradient_window(n);
        CHECK(window_comm.offset_in_my_slot(window, n) == 0);
        const std::vector<float> in = random_floats(91, window_comm.rank(), n);
        std::copy(in.begin(), in.end(), window);
        {
          auto reducer = make_host_reducer(window_comm, algo, window, n);
          for (const auto& [first, last] : layers_tail_first(n, 11)) reducer->start(first, last - first);
          reducer->wait();
        }
        CHECK(std::memcmp(window, copied.data(), static_cast<size_t>(n) * sizeof(float)) == 0);
        CHECK_THROWS_AS(window_comm.gradient_window(n), Error);  // pinned once
      }
    }
  }
}

// Issue 33.5: a rank with no samples in a step starts the whole buffer at
// once, the others start it tail first in buckets. NCCL and the MPI
// algorithms pair calls by their order, so every rank must issue the blocks
// in one order; main 9f91d3b issued the idle rank's ascending and the
// others' descending: wrong sums (equal blocks) or a hang (a short head).
// Integer-valued floats make every order's sum exact, so MPI_Allreduce is the
// reference.
TEST_CASE("reducer: a rank with no samples issues the blocks in the others' order", "[mpi][reducer]") {
  Communicator comm(MPI_COMM_WORLD);
  auto poisoned = kernels::make_poisoned_backend();
  for (const int64_t n : {3 * kReduceBlock, 3 * kReduceBlock + 777}) {
    for (const AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kMpi}) {
      for (const int idle : {0, comm.size() - 1}) {
        for (const bool staged : {false, true}) {
          INFO(allreduce_name(algo) << ", " << comm.size() << " ranks, idle rank " << idle << ", " << n
                                    << " floats, staged " << staged);
          std::vector<float> in(static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i) in[static_cast<size_t>(i)] = static_cast<float>((i * 7 + comm.rank()) % 13);
          if (comm.rank() == idle) std::fill(in.begin(), in.end(), 0.0f);
          std::vector<float> expected(in.size());
          MPI_Allreduce(in.data(), expected.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, comm.comm());
          std::vector<float> out = in;
          float* device = nullptr;
          std::unique_ptr<GradientReducer> reducer;
          if (staged) {
            device = poisoned->allocate(n);
            poisoned->upload(device, in.data(), n);
            reducer = make_staged_reducer(comm, algo, *poisoned, device, n);
          } else {
            reducer = make_host_reducer(comm, algo, out.data(), n);
          }
          if (comm.rank() == idle) {
            reducer->start(0, n);  // the trainer's zero-sample step: one range, the whole buffer
          } else {
            // Buckets of about 1.5 blocks, tail first (the trainer's --bucket-mb).
            for (int64_t last = n; last > 0;) {
              const int64_t first = std::max<int64_t>(0, last - 3 * kReduceBlock / 2);
              reducer->start(first, last - first);
              last = first;
            }
          }
          reducer->wait();
          reducer.reset();
          if (staged) {
            poisoned->download(out.data(), device, n);
            poisoned->release(device);
          }
          CHECK(same_bytes(out, expected));
        }
      }
    }
  }
}
