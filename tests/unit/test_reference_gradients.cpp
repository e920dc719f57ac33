// Finite-difference gradient checks of every layer and loss of the reference
// backend. For an op y = f(x, w) and a fixed random R, L = sum(y * R); the
// backward pass with diff_dst = R must give dL/dx and dL/dw, which central
// differences estimate independently.
#include <algorithm>
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

// ---- the MobileNet layers ------------------------------------------------------

TEST_CASE("Grouped and depthwise conv2d: gradients match finite differences", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  struct Case {
    int64_t n, ic, ih, iw, oc, k, stride, groups;
    bool same;
  };
  for (const Case& c : {Case{2, 4, 7, 6, 4, 3, 1, 4, true}, Case{1, 6, 9, 9, 6, 3, 2, 6, false},
                        Case{2, 4, 6, 5, 6, 2, 1, 2, true}, Case{1, 3, 5, 5, 6, 1, 1, 3, false}}) {
    ConvGeometry g = test::conv_geometry(c.n, c.ic, c.ih, c.iw, c.oc, c.k, c.stride, c.same);
    g.groups = c.groups;
    INFO("conv " << c.ic << "x" << c.ih << "x" << c.iw << " -> " << c.oc << " k" << c.k << " s" << c.stride << " g"
                 << c.groups);
    auto op = backend->make_conv(g);
    check_weighted_op(*op, g.n * g.ic * g.ih * g.iw, g.oc * (g.ic / g.groups) * g.kh * g.kw, g.oc,
                      g.n * g.oc * g.oh * g.ow, 20);
  }
}

TEST_CASE("Conv2d without bias: null bias, same as a zero bias", "[kernels]") {
  auto backend = make_reference_backend();
  ConvGeometry g = test::conv_geometry(2, 3, 6, 6, 4, 3, 1, true);
  auto with = backend->make_conv(g);
  g.bias = false;
  auto without = backend->make_conv(g);
  const auto src = random_vector(2 * 3 * 36, 1), w = random_vector(4 * 3 * 9, 2), r = random_vector(2 * 4 * 36, 3);
  const std::vector<float> zero(4, 0.0f);
  std::vector<float> a(r.size()), b(r.size()), dwa(w.size()), dwb(w.size()), dba(4);
  with->forward(src.data(), w.data(), zero.data(), a.data());
  without->forward(src.data(), w.data(), nullptr, b.data());
  CHECK(a == b);
  with->backward_weights(src.data(), r.data(), dwa.data(), dba.data());
  without->backward_weights(src.data(), r.data(), dwb.data(), nullptr);
  CHECK(dwa == dwb);
}

TEST_CASE("Batch norm: training gradients match finite differences, statistics as Keras", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  const NormGeometry g{3, 4, 3, 5, 1e-3f, 0.9f};
  const int64_t count = g.n * g.c * g.h * g.w;
  auto src = random_vector(count, 31);
  auto gamma = random_vector(g.c, 32, 0.5f, 1.5f);
  auto beta = random_vector(g.c, 33);
  const auto r = random_vector(count, 34);
  auto op = backend->make_batch_norm(g);
  std::vector<float> mean(4, 0.0f), var(4, 1.0f);
  auto loss = [&] {
    std::vector<float> dst(r.size()), m(4, 0.0f), v(4, 1.0f);
    op->forward_training(src.data(), gamma.data(), beta.data(), m.data(), v.data(), dst.data());
    return dot(dst, r);
  };
  std::vector<float> dst(r.size());
  op->forward_training(src.data(), gamma.data(), beta.data(), mean.data(), var.data(), dst.data());
  // Running statistics moved 10% of the way to the batch's mean and biased variance.
  for (int64_t c = 0; c < g.c; ++c) {
    double s = 0, sq = 0;
    const int64_t m = g.n * g.h * g.w;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t i = 0; i < g.h * g.w; ++i) s += src[static_cast<size_t>((n * g.c + c) * g.h * g.w + i)];
    const double mu = s / static_cast<double>(m);
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t i = 0; i < g.h * g.w; ++i) {
        const double d = src[static_cast<size_t>((n * g.c + c) * g.h * g.w + i)] - mu;
        sq += d * d;
      }
    CHECK(mean[static_cast<size_t>(c)] == Approx(0.1 * mu).margin(1e-6));
    CHECK(var[static_cast<size_t>(c)] == Approx(0.9 + 0.1 * sq / static_cast<double>(m)).epsilon(1e-5));
  }
  std::vector<float> diff_src(src.size()), dgamma(4), dbeta(4);
  op->backward(src.data(), r.data(), gamma.data(), diff_src.data(), dgamma.data(), dbeta.data());
  check_gradient("bn diff_src", src, diff_src, loss, 1e-2f, 5e-3);
  check_gradient("bn diff_gamma", gamma, dgamma, loss);
  check_gradient("bn diff_beta", beta, dbeta, loss);
  // Inference normalises with the running statistics: y = gamma (x - mean) / sqrt(var + eps) + beta.
  op->forward_inference(src.data(), gamma.data(), beta.data(), mean.data(), var.data(), dst.data());
  const size_t i = 7, c = (i / static_cast<size_t>(g.h * g.w)) % 4;
  CHECK(dst[i] == Approx(gamma[c] * (src[i] - mean[c]) / std::sqrt(var[c] + 1e-3) + beta[c]).epsilon(1e-5));
}

TEST_CASE("ReLU6, add, global average pooling and zero padding: gradients", "[kernels][gradcheck]") {
  auto backend = make_reference_backend();
  auto src = random_vector(60, 41, -9.0f, 9.0f);
  for (float& x : src)  // keep away from the kinks at 0 and 6
    if (std::abs(x) < 0.1f || std::abs(x - 6.0f) < 0.1f) x += 0.3f;
  const auto r = random_vector(60, 42);
  std::vector<float> dst(60), diff(60);
  auto relu6_loss = [&] {
    backend->relu6_forward(src.data(), dst.data(), 60);
    return dot(dst, r);
  };
  relu6_loss();
  CHECK(*std::max_element(dst.begin(), dst.end()) == 6.0f);
  CHECK(*std::min_element(dst.begin(), dst.end()) == 0.0f);
  backend->relu6_backward(dst.data(), r.data(), diff.data(), 60);
  check_gradient("relu6", src, diff, relu6_loss);

  // add: both inputs get the output gradient.
  const auto other = random_vector(60, 43);
  backend->add(src.data(), other.data(), dst.data(), 60);
  for (size_t i = 0; i < 60; ++i) CHECK(dst[i] == src[i] + other[i]);

  // Global average pooling over (planes 6, 2 x 5).
  const auto rg = random_vector(6, 44);
  std::vector<float> pooled(6), gdiff(60);
  auto gap_loss = [&] {
    backend->global_avg_pool_forward(src.data(), pooled.data(), 6, 10);
    return dot(pooled, rg);
  };
  gap_loss();
  backend->global_avg_pool_backward(rg.data(), gdiff.data(), 6, 10);
  check_gradient("gap", src, gdiff, gap_loss);

  // Zero padding (planes 3, 4 x 5) by top 0, bottom 1, left 2, right 1 -> (5, 8).
  const auto rp = random_vector(3 * 5 * 8, 45);
  std::vector<float> padded(rp.size()), pdiff(60);
  auto pad_loss = [&] {
    backend->zero_pad_forward(src.data(), padded.data(), 3, 4, 5, 0, 1, 2, 1);
    return dot(padded, rp);
  };
  pad_loss();
  CHECK(padded[0] == 0.0f);
  CHECK(padded[2] == src[0]);
  CHECK(padded[4 * 8 + 3] == 0.0f);  // the bottom row
  backend->zero_pad_backward(rp.data(), pdiff.data(), 3, 4, 5, 0, 1, 2, 1);
  check_gradient("zeropad", src, pdiff, pad_loss);
}
