// What the CUDA backend and the NCCL reducer decide, checked on the host
// (CPU-only CI): the CUDA backend's refusal without a GPU, the NCCL timer's
// event rule, which ranks share a GPU, the reduction block order, the cuDNN
// algorithm choice, the per-channel reduction tree and its host twin, and the
// launch configurations (the kernels themselves: tests/gpu, on a GPU).
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "../gpu/tree_twin.hpp"
#include "backend.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/nccl/nccl_checks.hpp"
#include "common/maths.hpp"
#include "core/error.hpp"
#include "cuda/conv_algo_choice.hpp"
#include "cuda/launch_config.hpp"
#include "kernel_test_util.hpp"

using namespace hpcnn;

// --backend cuda on a machine without a usable GPU (every CPU-only CI run):
// one line naming CUDA's own reason, as a usage error (exit 2). With a GPU,
// the backend is made and reports itself as one.
TEST_CASE("CUDA backend: without a usable GPU, a usage error naming the CUDA error", "[cuda]") {
  if (!kernels::cuda_backend_compiled()) {
    CHECK_THROWS_AS(kernels::make_cuda_backend({}), UsageError);
    CHECK_THROWS_WITH(kernels::make_cuda_backend({}), Catch::Contains("this build has no CUDA backend"));
    return;
  }
  try {
    auto be = kernels::make_cuda_backend({});
    CHECK(be->device() == kernels::DeviceKind::kGpu);
    CHECK(be->native_stream() != nullptr);
  } catch (const UsageError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.rfind("--backend cuda: no usable GPU (cudaGetDeviceCount: ", 0) == 0);
    CHECK(what.find('\n') == std::string::npos);
  }
  kernels::BackendOptions bf16;
  bf16.precision = kernels::Precision::kBf16;
  CHECK_THROWS_WITH(kernels::make_backend(kernels::BackendKind::kCuda, bf16), Catch::Contains("--precision bf16"));
}

// Issue 33.1: the NCCL reducer asked for the elapsed time of an event that had
// not completed and left cudaErrorNotReady behind for the next launch check.
// The timer asks only after a complete query, and clears a NotReady one.
TEST_CASE("NCCL reducer timing: the elapsed time is read only after the event completed", "[nccl]") {
  comm::LaggedEventTimer timer;
  int elapsed_calls = 0, clears = 0;
  comm::EventState state = comm::EventState::kNotReady;
  const auto poll = [&] {
    return timer.poll([&] { return state; },
                      [&] {
                        ++elapsed_calls;
                        return 250.0f;
                      },
                      [&] { ++clears; });
  };
  CHECK(poll() == 0.0);  // nothing recorded yet: nothing asked
  CHECK(elapsed_calls == 0);
  timer.armed();
  CHECK(poll() == 0.0);  // recorded, not complete: not read, the NotReady cleared
  CHECK(elapsed_calls == 0);
  CHECK(clears == 1);
  CHECK(timer.is_armed());  // the events stay reserved for this reading
  state = comm::EventState::kComplete;
  CHECK(poll() == 0.25);
  CHECK(elapsed_calls == 1);
  CHECK_FALSE(timer.is_armed());
  CHECK(poll() == 0.25);  // read once: the last value stays
  CHECK(elapsed_calls == 1);
  timer.armed();
  state = comm::EventState::kFailed;
  CHECK(poll() == 0.25);
  CHECK(elapsed_calls == 1);
  CHECK_FALSE(timer.is_armed());
}

// Issue 33.4: under srun --gpus-per-task=1 every rank sees its GPU as device 0;
// ranks share a GPU only when node and PCI bus id agree.
TEST_CASE("NCCL reducer: ranks share a GPU only with the same node and PCI bus id", "[nccl]") {
  using comm::GpuIdentity;
  // Four ranks on one node, each its own GPU (all "device 0" to CUDA).
  const std::vector<GpuIdentity> srun{
      {"n1", "0000:1B:00.0"}, {"n1", "0000:43:00.0"}, {"n1", "0000:52:00.0"}, {"n1", "0000:61:00.0"}};
  CHECK_FALSE(comm::ranks_sharing_a_gpu(srun).has_value());
  // The same bus id on two nodes is two GPUs.
  CHECK_FALSE(comm::ranks_sharing_a_gpu({{"n1", "0000:1B:00.0"}, {"n2", "0000:1B:00.0"}}).has_value());
  // Two ranks of a node on one GPU, however the bus id is spelled.
  const auto shared =
      comm::ranks_sharing_a_gpu({{"n1", "0000:1B:00.0"}, {"n1", "0000:43:00.0"}, {"n1", "0000:1b:00.0"}});
  REQUIRE(shared.has_value());
  CHECK(shared->first == 0);
  CHECK(shared->second == 2);
}

// Issue 33.5: every rank issues the reduction blocks in one order (last block
// first), whether its ranges came tail first in buckets or as one range.
TEST_CASE("Reduction blocks are issued last first whatever the ranges", "[nccl][reducer]") {
  const int64_t n = 3 * comm::kReduceBlock + 5;  // a short head block and three whole ones
  const auto issued = [&](const std::vector<std::pair<int64_t, int64_t>>& ranges) {
    comm::BlockSchedule s(n);
    std::vector<int64_t> order;
    for (const auto& [first, last] : ranges) {
      for (int64_t b : s.cover(first, last - first)) order.push_back(b);
    }
    CHECK(s.complete());
    return order;
  };
  const std::vector<int64_t> expected{3, 2, 1, 0};
  CHECK(issued({{0, n}}) == expected);  // a rank with no samples: the whole buffer at once
  const int64_t half = comm::kReduceBlock / 2;
  CHECK(issued({{n - half, n}, {n - 3 * half, n - half}, {0, n - 3 * half}}) == expected);  // tail first
  // Head first (no rank does this, but the order still holds): nothing is issued until the tail is.
  comm::BlockSchedule s(n);
  CHECK(s.cover(0, 5).empty());
  CHECK(s.missing() == 4);
  CHECK(s.cover(5, n - 5) == expected);
  CHECK_THROWS_WITH(s.cover(0, 1), Catch::Contains("started twice"));
  s.reset();
  CHECK(s.missing() == 4);
}

// Issue 33.6: without --allow-tf32 only FP32 FMA algorithms; never one that
// may down-convert to FP16; a workspace larger than the limit is skipped and,
// when nothing fits, the error says how much the smallest needed.
TEST_CASE("cuDNN algorithm choice: deterministic, allowed math, workspace within the limit", "[cuda]") {
  using kernels::ConvAlgoOption;
  using Math = ConvAlgoOption::Math;
  const auto option = [](int algo, bool det, Math math, size_t memory) {
    ConvAlgoOption o;
    o.algo = algo;
    o.deterministic = det;
    o.math = math;
    o.memory = memory;
    return o;
  };
  const std::vector<ConvAlgoOption> list{option(7, false, Math::kFma, 0),  // fastest, not deterministic
                                         option(6, true, Math::kTensorOpAllowConversion, 0),
                                         option(5, true, Math::kTensorOp, 100), option(4, true, Math::kFma, 5000),
                                         option(3, true, Math::kFma, 200)};
  CHECK(kernels::choose_conv_algo(list, false, 1 << 20, "forward").index == 3);
  CHECK(kernels::choose_conv_algo(list, true, 1 << 20, "forward").index == 2);  // TF32 allowed
  CHECK(kernels::choose_conv_algo(list, false, 1000, "forward").index == 4);    // 5000 bytes do not fit
  const kernels::ConvAlgoChoice none = kernels::choose_conv_algo(list, false, 100, "backward filter");
  CHECK(none.index == -1);
  CHECK(none.refusal.find("backward filter") != std::string::npos);
  CHECK(none.refusal.find("the smallest workspace is 200 bytes, the limit 100") != std::string::npos);
  CHECK(kernels::choose_conv_algo({option(1, false, Math::kFma, 0)}, true, 100, "forward").index == -1);
}

// Issue 33.7: the CUDA bias gradient sums by maths::tree_sum's fixed tree
// (lanes of stride kTreeLanes, then a halving fold); tests/gpu checks the
// kernel against this host function bitwise. Here the tree's shape itself:
// values that cancel only when summed in the right groups.
TEST_CASE("The per-channel reduction tree groups by lane and folds by halves", "[cuda]") {
  using kernels::maths::kTreeLanes;
  const auto sum = [](const std::vector<float>& v) {
    return kernels::maths::tree_sum([&](int64_t i) { return v[static_cast<size_t>(i)]; },
                                    static_cast<int64_t>(v.size()));
  };
  const float big = 1152921504606846976.0f;  // 2^60: big + 1 == big in double
  std::vector<float> v(3 * kTreeLanes, 0.0f);
  v[0] = big;
  v[kTreeLanes] = -big;  // the same lane as v[0]: they cancel there
  v[1] = 1.0f;
  CHECK(sum(v) == 1.0);  // index order would give 0 (big + 1 loses the 1)
  std::vector<float> w(kTreeLanes, 0.0f);
  w[0] = big;
  w[kTreeLanes / 2] = -big;  // lanes 0 and 128 meet in the first fold step
  w[1] = 1.0f;
  CHECK(sum(w) == 1.0);  // adjacent pairs first (0 + 1) would give 0
  // Integer-valued data: exact, whatever the count.
  for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{255}, int64_t{257}, int64_t{100000}}) {
    std::vector<float> u(static_cast<size_t>(n));
    double exact = 0.0;
    for (int64_t i = 0; i < n; ++i) exact += (u[static_cast<size_t>(i)] = static_cast<float>(i % 7) - 3.0f);
    CHECK(sum(u) == exact);
  }
}

// Issue 28.3: every CUDA launch's grid comes from launch_config.hpp, which
// refuses what CUDA would: the largest shapes the presets make fit.
TEST_CASE("CUDA launch configurations fit the grid limits for the largest preset shapes", "[cuda]") {
  namespace launch = kernels::launch;
  // The 414 M-parameter MLP (mlp:25600-12800-6656): Adam over every parameter,
  // and its largest weight matrix, 25600 x 12800.
  const launch::Config adam = launch::per_element(414'000'000, "adam_kernel");
  CHECK(adam.grid_x == (414'000'000 + 255) / 256);
  CHECK(adam.block == 256);
  CHECK(launch::per_element(int64_t{25600} * 12800, "fill_kernel").grid_x == 1'280'000);
  // solar-cnn at batch 1024: conv2's output (1024, 64, 46, 46) and its bias gradient.
  const int64_t act = int64_t{1024} * 64 * 46 * 46;
  CHECK(launch::per_element(act, "add_bias_kernel").grid_x == static_cast<uint32_t>((act + 255) / 256));
  CHECK(launch::per_channel(64, 256, "bias_grad_kernel").grid_x == 64);
  CHECK(launch::per_channel(12800, 256, "bias_grad_kernel").grid_x == 12800);
  // The limits themselves: x up to 2^31 - 1 blocks (2^31 - 1 times 256 elements), y and z up to 65535.
  CHECK(launch::per_element(launch::kMaxGridX * 256, "relu_kernel").grid_x == launch::kMaxGridX);
  CHECK_THROWS_WITH(launch::per_element(launch::kMaxGridX * 256 + 1, "relu_kernel"),
                    Catch::Contains("relu_kernel") && Catch::Contains("blocks in x"));
  CHECK_THROWS_WITH(launch::grid(1, 65536, 1, 256, "k"), Catch::Contains("limit 65535"));
  CHECK(launch::grid(1, 65535, 65535, 256, "k").grid_z == 65535);
  CHECK_THROWS_WITH(launch::per_element(0, "gap_kernel"), Catch::Contains("gap_kernel: 0 elements"));
  CHECK_THROWS_WITH(launch::grid(1, 1, 1, 2048, "k"), Catch::Contains("threads per block"));
}

// Issue 33.7: the GPU's batch norm and global average pooling are defined by
// their host twin (tests/gpu/tree_twin.hpp, which the GPU test compares the
// kernels with bitwise); the twin itself must agree with the host layers.
TEST_CASE("The tree-summed batch norm and average pooling twin equals the host layers to 1e-5", "[cuda]") {
  const kernels::NormGeometry g{5, 12, 9, 7, 1e-3f, 0.99f};
  const int64_t count = g.n * g.c * g.h * g.w, planes = g.n * g.c;
  const auto x = test::random_vector(count, 71, -8.0f, 8.0f), dy = test::random_vector(count, 72),
             gamma = test::random_vector(g.c, 73, 0.5f, 1.5f), beta = test::random_vector(g.c, 74);
  const std::vector<float> rm(static_cast<size_t>(g.c), 0.1f), rv(static_cast<size_t>(g.c), 0.9f);
  auto be = kernels::make_reference_backend();
  test::DeviceVector a(*be, x), d(*be, dy), ga(*be, gamma), bt(*be, beta), mean(*be, rm), var(*be, rv), y(*be, count),
      yi(*be, count), dx(*be, count), dg(*be, g.c), db(*be, g.c), gp(*be, planes), gpg(*be, count);
  auto bn = be->make_batch_norm(g);
  bn->forward_training(a.get(), ga.get(), bt.get(), mean.get(), var.get(), y.get());
  bn->backward(a.get(), d.get(), ga.get(), dx.get(), dg.get(), db.get());
  bn->forward_inference(a.get(), ga.get(), bt.get(), mean.get(), var.get(), yi.get());
  be->global_avg_pool_forward(a.get(), gp.get(), planes, g.h * g.w);
  be->global_avg_pool_backward(gp.get(), gpg.get(), planes, g.h * g.w);
  const std::vector<std::vector<float>> host{y.host(),  mean.host(), var.host(), dx.host(), dg.host(),
                                             db.host(), yi.host(),   gp.host(),  gpg.host()};
  const std::vector<std::vector<float>> tree = test::tree_norm_and_gap(x, dy, gamma, beta, rm, rv, g);
  REQUIRE(tree.size() == host.size());
  for (size_t t = 0; t < host.size(); ++t) {
    INFO("output " << t);
    REQUIRE(tree[t].size() == host[t].size());
    double scale = 1e-30, worst = 0.0;
    for (float v : host[t]) scale = std::max(scale, std::abs(static_cast<double>(v)));
    for (size_t i = 0; i < host[t].size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(tree[t][i]) - host[t][i]));
    }
    CHECK(worst / scale <= 1e-5);
  }
}
