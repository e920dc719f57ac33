// Finite-difference gradient checks of every layer and loss of the reference
// backend. For an op y = f(x, w) and a fixed random R, L = sum(y * R); the
// backward pass with diff_dst = R must give dL/dx and dL/dw, which central
// differences estimate independently.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>

#include "backend.hpp"
#include "kernel_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::kernels;
using hpcnn::test::DeviceVector;
using hpcnn::test::random_vector;

namespace {
double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

/// Compares analytic[i] with (L(x + eps e_i) - L(x - eps e_i)) / 2 eps for a
/// sample of indices i; `loss` evaluates L with x as given.
void check_gradient(const char* what, std::vector<float>& x, const std::vector<float>& analytic,
                    const std::function<double()>& loss, float eps = 1e-2f, double tol = 2e-3) {
  REQUIRE(x.size() == analytic.size());
  Rng pick(static_cast<uint64_t>(x.size()) * 31 + 7);
  const size_t samples = std::min<size_t>(x.size(), 40);
  for (size_t s = 0; s < samples; ++s) {
    const size_t i = x.size() <= 40 ? s : static_cast<size_t>(pick.uniform_index(x.size()));
    const float keep = x[i];
    x[i] = keep + eps;
    const double up = loss();
    x[i] = keep - eps;
    const double down = loss();
    x[i] = keep;
    const double numeric = (up - down) / (2.0 * eps);
    INFO(what << "[" << i << "]: analytic " << analytic[i] << " numeric " << numeric);
    CHECK(std::abs(numeric - analytic[i]) <= tol * std::max(1.0, std::abs(numeric)));
  }
}

/// Checks all three gradients of a weighted op (conv or dense: same calls).
template <typename Op>
void check_weighted_op(Op& op, int64_t src_count, int64_t weights_count, int64_t bias_count, int64_t dst_count,
                       uint64_t key) {
  auto src = random_vector(src_count, key + 1);
  auto weights = random_vector(weights_count, key + 2);
  auto bias = random_vector(bias_count, key + 3);
  const auto r = random_vector(dst_count, key + 4);
  auto loss = [&] {
    std::vector<float> dst(r.size());
    op.forward(src.data(), weights.data(), bias.data(), dst.data());
    return dot(dst, r);
  };
  std::vector<float> diff_src(src.size()), diff_w(weights.size()), diff_b(bias.size());
  op.backward_data(r.data(), weights.data(), diff_src.data());
  op.backward_weights(src.data(), r.data(), diff_w.data(), diff_b.data());
  check_gradient("diff_src", src, diff_src, loss);
  check_gradient("diff_weights", weights, diff_w, loss);
  check_gradient("diff_bias", bias, diff_b, loss);
}
}  // namespace

TEST_CASE("Reference conv2d: gradients match finite differences", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  struct Case {
    int64_t n, ic, ih, iw, oc, k, stride;
    bool same;
  };
  for (const Case& c : {Case{2, 3, 7, 5, 4, 3, 1, false}, Case{1, 2, 9, 9, 3, 3, 2, true},
                        Case{2, 1, 6, 7, 2, 2, 1, true}, Case{1, 2, 8, 6, 3, 4, 2, false}}) {
    const ConvGeometry g = test::conv_geometry(c.n, c.ic, c.ih, c.iw, c.oc, c.k, c.stride, c.same);
    INFO("conv " << c.ic << "x" << c.ih << "x" << c.iw << " -> " << c.oc << " k" << c.k << " s" << c.stride
                 << (c.same ? " same" : " valid"));
    auto op = backend->make_conv(g);
    check_weighted_op(*op, g.n * g.ic * g.ih * g.iw, g.oc * g.ic * g.kh * g.kw, g.oc, g.n * g.oc * g.oh * g.ow, 0);
  }
}

TEST_CASE("Reference dense: gradients match finite differences", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  const DenseGeometry g{3, 7, 5};
  auto op = backend->make_dense(g);
  check_weighted_op(*op, g.n * g.in, g.out * g.in, g.out, g.n * g.out, 4);
}

TEST_CASE("Reference max-pool: gradients match finite differences", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  for (const PoolGeometry& g : {PoolGeometry{2, 3, 7, 7, 2, 2, 3, 3}, PoolGeometry{1, 2, 9, 8, 3, 2, 4, 3},
                                PoolGeometry{1, 1, 8, 8, 4, 4, 2, 2}}) {
    // Well-separated values so a small step never changes the arg-max.
    const int64_t count = g.n * g.c * g.ih * g.iw;
    std::vector<float> src(static_cast<size_t>(count));
    Rng rng(9);
    for (int64_t i = 0; i < count; ++i) src[static_cast<size_t>(i)] = static_cast<float>(i) * 0.1f;
    shuffle(std::span<float>(src), rng);
    const auto r = random_vector(g.n * g.c * g.oh * g.ow, 10);
    auto op = backend->make_pool(g);
    auto loss = [&] {
      std::vector<float> dst(r.size());
      op->forward(src.data(), dst.data());
      return dot(dst, r);
    };
    loss();
    std::vector<float> diff_src(src.size());
    op->backward(r.data(), diff_src.data());
    check_gradient("pool diff_src", src, diff_src, loss, 1e-2f);
  }
}

TEST_CASE("Reference ReLU and multiply (dropout): gradients", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  auto src = random_vector(50, 11);
  for (float& x : src) x = x >= 0 ? x + 0.05f : x - 0.05f;  // keep away from the kink
  const auto r = random_vector(50, 12);
  std::vector<float> dst(50), diff(50);
  auto loss = [&] {
    backend->relu_forward(src.data(), dst.data(), 50);
    return dot(dst, r);
  };
  loss();
  backend->relu_backward(dst.data(), r.data(), diff.data(), 50);
  check_gradient("relu", src, diff, loss, 1e-2f);

  const auto mask = random_vector(50, 13, 0.0f, 2.0f);
  auto mloss = [&] {
    backend->multiply(src.data(), mask.data(), dst.data(), 50);
    return dot(dst, r);
  };
  backend->multiply(r.data(), mask.data(), diff.data(), 50);  // backward of x * mask
  check_gradient("multiply", src, diff, mloss);
}

TEST_CASE("Reference losses: softmax cross-entropy and MSE gradients", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  const int64_t n = 4, k = 5;
  auto logits = random_vector(n * k, 14, -3.0f, 3.0f);
  const std::vector<int32_t> labels{0, 4, 2, 2};
  std::vector<float> diff(static_cast<size_t>(n * k));
  const float scale = 1.0f / static_cast<float>(n);
  backend->softmax_cross_entropy(logits.data(), labels.data(), n, k, scale, diff.data());
  const LossResult r = backend->read_loss();
  auto ce = [&] {
    std::vector<float> scratch(diff.size());
    backend->softmax_cross_entropy(logits.data(), labels.data(), n, k, scale, scratch.data());
    return scale * backend->read_loss().loss_sum;
  };
  check_gradient("softmax-ce", logits, diff, ce, 1e-3f);
  // Hand check of one row: loss = logsumexp(row) - row[label].
  double lse = 0;
  for (int64_t j = 0; j < k; ++j) lse += std::exp(static_cast<double>(logits[static_cast<size_t>(j)]));
  double expected = 0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += std::exp(static_cast<double>(logits[static_cast<size_t>(i * k + j)]));
    expected += std::log(s) - logits[static_cast<size_t>(i * k + labels[static_cast<size_t>(i)])];
  }
  CHECK(r.loss_sum == Approx(expected).epsilon(1e-9));

  auto pred = random_vector(6, 15);
  const auto target = random_vector(6, 16);
  std::vector<float> mdiff(6);
  backend->mean_squared_error(pred.data(), target.data(), 3, 2, 1.0f, mdiff.data());
  backend->read_loss();
  auto mse = [&] {
    std::vector<float> scratch(6);
    backend->mean_squared_error(pred.data(), target.data(), 3, 2, 1.0f, scratch.data());
    return backend->read_loss().loss_sum;
  };
  check_gradient("mse", pred, mdiff, mse, 1e-3f);
}

TEST_CASE("Adam and SGD steps equal hand-computed values", "[kernels][optimizer]") {
  auto backend = make_reference_backend();
  // One Adam step from m = v = 0 with Keras's bias correction at t = 1:
  // m = 0.1 g, v = 0.001 g^2, lr_t = lr * sqrt(1 - 0.999) / (1 - 0.9),
  // p -= lr_t * m / (sqrt(v) + eps).
  std::vector<float> p{1.0f, -2.0f}, g{0.5f, -4.0f}, m{0, 0}, v{0, 0};
  const float lr = 1e-3f;
  AdamStep step;
  step.lr_t = lr * std::sqrt(1.0f - 0.999f) / (1.0f - 0.9f);
  backend->adam_update(p.data(), g.data(), m.data(), v.data(), 2, step);
  const double lr_t = 1e-3 * std::sqrt(0.001) / 0.1;
  CHECK(m[0] == Approx(0.05));
  CHECK(v[1] == Approx(0.016).epsilon(1e-4));  // 1 - 0.999f is not exact in float
  CHECK(p[0] == Approx(1.0 - lr_t * 0.05 / (std::sqrt(0.00025) + 1e-7)).epsilon(1e-6));
  CHECK(p[1] == Approx(-2.0 - lr_t * -0.4 / (std::sqrt(0.016) + 1e-7)).epsilon(1e-6));
  // The first Adam step moves each weight by about lr, whatever the gradient's size.
  CHECK(std::abs(p[0] - 1.0f) == Approx(1e-3).epsilon(1e-3));

  std::vector<float> q{1.0f}, gq{2.0f}, vel{0.5f};
  backend->sgd_update(q.data(), gq.data(), vel.data(), 1, 0.1f, 0.9f);
  CHECK(vel[0] == Approx(0.9 * 0.5 - 0.1 * 2.0));
  CHECK(q[0] == Approx(1.0 + 0.25));
}

TEST_CASE("NaN propagates through ReLU and max-pool (bad data must reach the loss)", "[kernels]") {
  for (auto& backend : {make_reference_backend(), make_onednn_backend(1)}) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> src{1.0f, -1.0f, nan, 2.0f}, dst(4), pooled(1);
    backend->relu_forward(src.data(), dst.data(), 4);
    CHECK(dst[0] == 1.0f);
    CHECK(dst[1] == 0.0f);
    CHECK(std::isnan(dst[2]));
    auto pool = backend->make_pool(PoolGeometry{1, 1, 2, 2, 2, 2, 1, 1});
    pool->forward(src.data(), pooled.data());
    CHECK(std::isnan(pooled[0]));
  }
}
