// The sharded optimizer (ZeRO stages 1-2) under mpirun (1..8 ranks): for
// ring, rhd, hier and auto, on real and pretend nodes, Adam and SGD with
// momentum over a few steps of random gradients (started in uneven buckets,
// tail first) give bitwise the weights of the unsharded optimizer on
// all-reduced gradients, on every rank, while each rank keeps optimizer state
// for about count / p parameters.
#include <mpi.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "backend.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/shard_state.hpp"
#include "core/rng.hpp"
#include "model/optimizer.hpp"
#include "mpi_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::comm;
using hpcnn::test::identical_everywhere;
using hpcnn::test::random_floats;
using hpcnn::test::same_bytes;

namespace {
/// Buckets of about 0.7 blocks, tail first, as backward finishes them.
void start_in_buckets(GradientReducer& reducer, int64_t n) {
  for (int64_t last = n; last > 0;) {
    const int64_t first = std::max<int64_t>(0, last - 7 * kReduceBlock / 10);
    reducer.start(first, last - first);
    last = first;
  }
  if (n == 0) reducer.start(0, 0);
}

void check_sharded_steps(Communicator& comm, AllreduceAlgo algo, model::OptimizerKind kind, kernels::Backend& backend,
                         int64_t n, bool balanced) {
  const int p = comm.size();
  INFO(allreduce_name(algo) << ", " << model::optimizer_name(kind) << " on " << backend.name() << ", " << p
                            << " ranks, " << comm.num_nodes() << " nodes, " << n << " floats");
  model::OptimizerConfig config;
  config.kind = kind;
  config.lr = 0.01;
  config.momentum = 0.9;
  std::vector<float> unsharded = random_floats(7, 0, n), sharded = unsharded;  // the same weights everywhere
  std::vector<float> grads_full(static_cast<size_t>(n)), grads_shard(static_cast<size_t>(n));
  auto shard_reducer = make_sharded_reducer(comm, algo, grads_shard.data(), n);
  if (algo != AllreduceAlgo::kAuto) CHECK(shard_reducer->algo() == algo);
  CHECK(has_reduce_scatter(shard_reducer->algo()));
  // `auto` resolves among the algorithms with halves: compare with the one it chose.
  auto full_reducer = make_host_reducer(comm, shard_reducer->algo(), grads_full.data(), n);
  model::Optimizer full(config, backend, n), part(config, backend, shard_reducer->shard_count());
  for (int step = 0; step < 3; ++step) {
    const std::vector<float> grads = random_floats(100 + static_cast<uint64_t>(step), comm.rank(), n);
    grads_full = grads;
    full_reducer->start(0, n);
    full_reducer->wait();
    full.step(unsharded.data(), grads_full.data());

    grads_shard = grads;
    start_in_buckets(*shard_reducer, n);
    shard_reducer->wait();
    part.step_slices(sharded.data(), shard_reducer->shard_gradients(), shard_reducer->shard_gradient_offsets(),
                     shard_reducer->slices());
    shard_reducer->all_gather(sharded.data());
  }
  CHECK(same_bytes(sharded, unsharded));
  CHECK(identical_everywhere(sharded, comm.comm()));
  // State for about count / p parameters (one block's rounding aside); all of them on some rank.
  double owned = static_cast<double>(shard_reducer->shard_count());
  if (balanced) CHECK(std::abs(owned - static_cast<double>(n) / p) <= static_cast<double>(kReduceBlock));
  comm.sum(&owned, 1);
  CHECK(owned == static_cast<double>(n));
  CHECK(part.state_a().size() == static_cast<size_t>(shard_reducer->shard_count()));
}
}  // namespace

TEST_CASE("sharded optimizer: Adam and SGD weights = unsharded, bitwise, every algorithm with halves", "[mpi][shard]") {
  auto reference = kernels::make_reference_backend();
  for (const int ranks_per_node : {0, 2}) {
    Communicator comm(MPI_COMM_WORLD, ranks_per_node);
    for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier, AllreduceAlgo::kAuto}) {
      if (ranks_per_node != 0 && (algo == AllreduceAlgo::kRing || algo == AllreduceAlgo::kRhd)) continue;
      const bool balanced = algo != AllreduceAlgo::kHier || comm.regular_nodes();
      for (const int64_t n : {int64_t{1}, int64_t{comm.size() + 1}, int64_t{1000003}}) {
        for (const auto kind : {model::OptimizerKind::kAdam, model::OptimizerKind::kSgd}) {
          check_sharded_steps(comm, algo, kind, *reference, n, balanced);
        }
      }
    }
  }
}

// Issue 30, brief zstep item 1: the host sharded reducer leaves each slice's
// reduced gradients where the reduce-scatter left them, inside the gradient
// buffer, and says so (shard_gradient_offsets() = the slices' starts), so the
// optimizer reads them there. Before, wait() packed them in place at the
// front of the buffer (a memmove of count / p floats a step), overwriting
// the slices of the later blocks: this fails there.
TEST_CASE("sharded host reducer leaves every slice's sums where the reduce-scatter left them", "[mpi][shard]") {
  for (const int ranks_per_node : {0, 2}) {
    Communicator comm(MPI_COMM_WORLD, ranks_per_node);
    for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
      if (ranks_per_node != 0 && algo != AllreduceAlgo::kHier) continue;
      const int64_t n = 3 * kReduceBlock + 4321;  // an uneven first block
      INFO(allreduce_name(algo) << ", " << comm.size() << " ranks, " << comm.num_nodes() << " nodes");
      const std::vector<float> grads = random_floats(31, comm.rank(), n);
      std::vector<float> summed = grads, sharded = grads;
      auto full = make_host_reducer(comm, algo, summed.data(), n);
      full->start(0, n);
      full->wait();
      auto reducer = make_sharded_reducer(comm, algo, sharded.data(), n);
      start_in_buckets(*reducer, n);
      reducer->wait();
      CHECK(reducer->shard_gradients() == sharded.data());
      const std::vector<Range>& slices = reducer->slices();
      REQUIRE(reducer->shard_gradient_offsets().size() == slices.size());
      int64_t wrong = 0, misplaced = 0;
      for (size_t i = 0; i < slices.size(); ++i) {
        const auto [lo, hi] = slices[i];
        if (reducer->shard_gradient_offsets()[i] != lo) ++misplaced;
        if (std::memcmp(sharded.data() + lo, summed.data() + lo, static_cast<size_t>(hi - lo) * sizeof(float)) != 0)
          ++wrong;
      }
      CHECK(misplaced == 0);
      CHECK(wrong == 0);
    }
  }
}

// The oneDNN backend updates buffers from 2 Mi floats in a streaming Adam
// (OpenMP threads, four lanes at a time); the shards step block by block
// through the plain loop. Both must be adam_one's arithmetic.
TEST_CASE("sharded optimizer: the host backend's streaming Adam = its block-wise steps, bitwise", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  auto host = kernels::make_onednn_backend(2);
  check_sharded_steps(comm, AllreduceAlgo::kRing, model::OptimizerKind::kAdam, *host, (int64_t{1} << 21) + 777, true);
}

TEST_CASE("sharded optimizer: algorithms without halves and compression they lack are refused by name",
          "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  std::vector<float> g(100);
  CHECK_THROWS_WITH(make_sharded_reducer(comm, AllreduceAlgo::kTree, g.data(), 100), Catch::Contains("tree"));
  CHECK_THROWS_WITH(make_sharded_reducer(comm, AllreduceAlgo::kShm, g.data(), 100), Catch::Contains("shm"));
  CHECK_THROWS_WITH(make_sharded_reducer(comm, AllreduceAlgo::kHier, g.data(), 100, GradCompression::kBf16),
                    Catch::Contains("hier"));
}

// Checkpoints keep the unsharded format: the sharded state gathered on rank 0
// is bitwise the unsharded optimizer's; scattered again at another rank
// count (and algorithm) it continues bitwise as the unsharded optimizer
// restored from the same vectors does, and gathers back to them.
TEST_CASE("sharded optimizer: state gathered for a checkpoint = unsharded, and resumes at another rank count",
          "[mpi][shard]") {
  auto backend = kernels::make_reference_backend();
  const int64_t n = 3 * kReduceBlock + 12345;
  model::OptimizerConfig config;  // Adam: two state vectors
  std::vector<float> saved_a, saved_b, saved_params;
  int64_t saved_steps = 0;
  {
    Communicator comm(MPI_COMM_WORLD);
    std::vector<float> unsharded = random_floats(7, 0, n), sharded = unsharded;
    std::vector<float> grads_full(static_cast<size_t>(n)), grads_shard(static_cast<size_t>(n));
    auto shard_reducer = make_sharded_reducer(comm, AllreduceAlgo::kRing, grads_shard.data(), n);
    auto full_reducer = make_host_reducer(comm, AllreduceAlgo::kRing, grads_full.data(), n);
    model::Optimizer full(config, *backend, n), part(config, *backend, shard_reducer->shard_count());
    for (int step = 0; step < 2; ++step) {
      // Copied into the buffers the reducers hold (a move would replace them).
      const std::vector<float> grads = random_floats(200 + static_cast<uint64_t>(step), comm.rank(), n);
      grads_full = grads;
      grads_shard = grads;
      full_reducer->start(0, n);
      full_reducer->wait();
      full.step(unsharded.data(), grads_full.data());
      start_in_buckets(*shard_reducer, n);
      shard_reducer->wait();
      part.step_slices(sharded.data(), shard_reducer->shard_gradients(), shard_reducer->shard_gradient_offsets(),
                       shard_reducer->slices());
      shard_reducer->all_gather(sharded.data());
    }
    saved_a = gather_shard(comm, shard_reducer->slices(), part.state_a(), n);
    saved_b = gather_shard(comm, shard_reducer->slices(), part.state_b(), n);
    if (comm.rank() == 0) {
      CHECK(same_bytes(saved_a, full.state_a()));
      CHECK(same_bytes(saved_b, full.state_b()));
    } else {
      CHECK(saved_a.empty());
    }
    // As a checkpoint would be read: the same vectors on every rank.
    saved_a.resize(static_cast<size_t>(n));
    saved_b.resize(static_cast<size_t>(n));
    comm.broadcast(saved_a.data(), n);
    comm.broadcast(saved_b.data(), n);
    saved_params = sharded;
    saved_steps = part.steps();
  }
  // Resume on the first half of the ranks (at least one), with rhd.
  int world = 1, me = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  const int k = (world + 1) / 2;
  MPI_Comm sub = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, me < k ? 0 : MPI_UNDEFINED, me, &sub);
  if (sub == MPI_COMM_NULL) return;
  {
    Communicator comm(sub);
    INFO("resumed on " << comm.size() << " of " << world << " ranks");
    std::vector<float> unsharded = saved_params, sharded = saved_params;
    std::vector<float> grads_full(static_cast<size_t>(n)), grads_shard(static_cast<size_t>(n));
    auto shard_reducer = make_sharded_reducer(comm, AllreduceAlgo::kRhd, grads_shard.data(), n);
    auto full_reducer = make_host_reducer(comm, AllreduceAlgo::kRhd, grads_full.data(), n);
    model::Optimizer full(config, *backend, n), part(config, *backend, shard_reducer->shard_count());
    full.restore(saved_steps, saved_a, saved_b);
    part.restore(saved_steps, scatter_shard(saved_a, shard_reducer->slices()),
                 scatter_shard(saved_b, shard_reducer->slices()));
    // Round trip before any step.
    const std::vector<float> again = gather_shard(comm, shard_reducer->slices(), part.state_a(), n);
    if (comm.rank() == 0) CHECK(same_bytes(again, saved_a));
    for (int step = 0; step < 2; ++step) {
      // Copied into the buffers the reducers hold (a move would replace them).
      const std::vector<float> grads = random_floats(300 + static_cast<uint64_t>(step), comm.rank(), n);
      grads_full = grads;
      grads_shard = grads;
      full_reducer->start(0, n);
      full_reducer->wait();
      full.step(unsharded.data(), grads_full.data());
      start_in_buckets(*shard_reducer, n);
      shard_reducer->wait();
      part.step_slices(sharded.data(), shard_reducer->shard_gradients(), shard_reducer->shard_gradient_offsets(),
                       shard_reducer->slices());
      shard_reducer->all_gather(sharded.data());
    }
    CHECK(same_bytes(sharded, unsharded));
    const std::vector<float> b = gather_shard(comm, shard_reducer->slices(), part.state_b(), n, comm.size() - 1);
    if (comm.rank() == comm.size() - 1) CHECK(same_bytes(b, full.state_b()));
  }
  MPI_Comm_free(&sub);
}

TEST_CASE("sharded optimizer: slices that do not tile the buffer are refused on every rank", "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  const std::vector<Range> everything{{0, 10}};
  const std::vector<float> values(10, 1.0f);
  // Every rank claims all of it: p times too many floats (with one rank: fine).
  if (comm.size() > 1) {
    CHECK_THROWS_WITH(gather_shard(comm, everything, values, 10), Catch::Contains("slices hold"));
  } else {
    CHECK(gather_shard(comm, everything, values, 10) == values);
  }
  CHECK_THROWS_WITH(scatter_shard(values, std::vector<Range>{{5, 11}}), Catch::Contains("outside"));
  // The right total, but the ranks' slices overlap (and leave a gap): root
  // finds it before any value moves and every rank throws.
  if (comm.size() > 1) {
    const int64_t n = 4 * static_cast<int64_t>(comm.size());
    const std::vector<Range> first_half{{0, 4}};
    const std::vector<float> four(4, 2.0f);
    CHECK_THROWS_WITH(gather_shard(comm, first_half, four, n), Catch::Contains("overlap or leave a gap"));
  }
}

// The staged path a GPU backend takes with the MPI algorithms, on the
// poisoned test backend (its device pointers kill the process if the reducer
// ever dereferences one on the host): weights and the optimizer's state in
// device memory, bitwise the host path's.
TEST_CASE("sharded optimizer: staged through a backend's memory = host, bitwise, never touching device memory",
          "[mpi][shard]") {
  Communicator comm(MPI_COMM_WORLD);
  auto reference = kernels::make_reference_backend();
  auto poisoned = kernels::make_poisoned_backend();
  const int64_t n = 2 * kReduceBlock + 999;
  for (AllreduceAlgo algo : {AllreduceAlgo::kRing, AllreduceAlgo::kRhd, AllreduceAlgo::kHier}) {
    INFO(allreduce_name(algo) << ", " << comm.size() << " ranks");
    model::OptimizerConfig config;
    std::vector<float> host_params = random_floats(7, 0, n), host_grads(static_cast<size_t>(n));
    float* dev_params = poisoned->allocate(n);
    float* dev_grads = poisoned->allocate(n);
    poisoned->upload(dev_params, host_params.data(), n);
    {
      auto host = make_sharded_reducer(comm, algo, host_grads.data(), n);
      auto staged = make_sharded_staged_reducer(comm, algo, *poisoned, dev_grads, n);
      CHECK(std::string(staged->kind()) == "sharded-staged");
      CHECK(staged->slices() == host->slices());
      model::Optimizer host_opt(config, *reference, host->shard_count());
      model::Optimizer dev_opt(config, *poisoned, staged->shard_count());
      for (int step = 0; step < 2; ++step) {
        const std::vector<float> grads = random_floats(400 + static_cast<uint64_t>(step), comm.rank(), n);
        std::copy(grads.begin(), grads.end(), host_grads.begin());
        poisoned->upload(dev_grads, grads.data(), n);
        start_in_buckets(*host, n);
        host->wait();
        host_opt.step_slices(host_params.data(), host->shard_gradients(), host->shard_gradient_offsets(),
                             host->slices());
        host->all_gather(host_params.data());
        start_in_buckets(*staged, n);
        staged->wait();
        dev_opt.step_slices(dev_params, staged->shard_gradients(), staged->shard_gradient_offsets(), staged->slices());
        staged->all_gather(dev_params);
      }
      CHECK(same_bytes(dev_opt.state_b(), host_opt.state_b()));
    }
    CHECK(poisoned->transfers().host_buffers == 0);  // the staging block went back
    std::vector<float> out(static_cast<size_t>(n));
    poisoned->download(out.data(), dev_params, n);
    poisoned->release(dev_params);
    poisoned->release(dev_grads);
    CHECK(same_bytes(out, host_params));
  }
}
