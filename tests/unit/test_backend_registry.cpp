// The Backend seam (kernels/backend.hpp): the one registry table behind
// backend names, --help's list, parsing and the factory, and the MobileNet
// layers that every backend implements (pure virtual since issue 27).
#include <catch2/catch.hpp>

#include <vector>

#include "backend.hpp"
#include "core/error.hpp"
#include "kernel_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::kernels;
using hpcnn::test::DeviceVector;

TEST_CASE("Backend registry: every name parses back to its kind, listed in one order", "[kernels][registry]") {
  const std::vector<BackendKind> kinds{BackendKind::kOnednn, BackendKind::kReference, BackendKind::kCuda,
                                       BackendKind::kPoisoned};
  for (BackendKind k : kinds) CHECK(parse_backend(backend_name(k)) == k);
  CHECK(backend_choices() == "onednn | reference | cuda | poisoned (a test backend)");
  CHECK_THROWS_MATCHES(parse_backend("gpu"), UsageError,
                       Catch::Message("--backend: unknown backend 'gpu' (expected " + backend_choices() + ")"));
  CHECK_THROWS_AS(backend_name(static_cast<BackendKind>(17)), Error);
  // The factory: each row makes its own backend; bf16 only where the row takes it.
  for (BackendKind k : {BackendKind::kOnednn, BackendKind::kReference, BackendKind::kPoisoned}) {
    CHECK(make_backend(k, 1)->name() == backend_name(k));
  }
  BackendOptions bf16;
  bf16.precision = Precision::kBf16;
  CHECK_THROWS_MATCHES(make_backend(BackendKind::kReference, bf16), UsageError,
                       Catch::Message("--precision bf16: only the onednn backend has it, not reference"));
  CHECK_THROWS_MATCHES(make_backend(BackendKind::kPoisoned, bf16), UsageError,
                       Catch::Message("--precision bf16: only the onednn backend has it, not poisoned"));
}

TEST_CASE("Every host-run backend computes the MobileNet element-wise layers", "[kernels][registry]") {
  for (BackendKind k : {BackendKind::kOnednn, BackendKind::kReference, BackendKind::kPoisoned}) {
    INFO(backend_name(k));
    auto be = make_backend(k, 1);
    const std::vector<float> x{-1.0f, 0.5f, 3.0f, 7.0f}, y{1.0f, 1.0f, 1.0f, 1.0f};
    DeviceVector a(*be, x), b(*be, y), out(*be, 4), grad(*be, 4), pooled(*be, 1), padded(*be, 4 * 3);
    be->relu6_forward(a.get(), out.get(), 4);
    CHECK(out.host() == std::vector<float>{0.0f, 0.5f, 3.0f, 6.0f});
    be->relu6_backward(out.get(), b.get(), grad.get(), 4);
    CHECK(grad.host() == std::vector<float>{0.0f, 1.0f, 1.0f, 0.0f});
    be->add(a.get(), b.get(), out.get(), 4);
    CHECK(out.host() == std::vector<float>{0.0f, 1.5f, 4.0f, 8.0f});
    be->global_avg_pool_forward(a.get(), pooled.get(), 1, 4);
    CHECK(pooled.host() == std::vector<float>{2.375f});
    be->global_avg_pool_backward(pooled.get(), grad.get(), 1, 4);
    CHECK(grad.host() == std::vector<float>{2.375f / 4, 2.375f / 4, 2.375f / 4, 2.375f / 4});
    // One 2 x 2 plane padded by a row below and a column either side: 3 x 4.
    be->zero_pad_forward(a.get(), padded.get(), 1, 2, 2, 0, 1, 1, 1);
    CHECK(padded.host() == std::vector<float>{0, -1.0f, 0.5f, 0, 0, 3.0f, 7.0f, 0, 0, 0, 0, 0});
    be->zero_pad_backward(padded.get(), out.get(), 1, 2, 2, 0, 1, 1, 1);
    CHECK(out.host() == x);
    NormGeometry g;
    g.c = 2;
    CHECK(be->make_batch_norm(g) != nullptr);
  }
}
