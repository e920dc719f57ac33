// The host kernels against the reference backend: oneDNN's conv, dense and
// bf16 paths, the host small-channel conv and max-pool fast paths, forward
// and backward on random shapes (odd sizes, stride 2, same and valid
// padding), within 1e-4 relative to the largest reference value of each
// tensor; and the host element-wise ops, dropout and optimizers over
// kernels/common/maths.hpp (Adam's streaming path included), bitwise.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend.hpp"
#include "host_backend.hpp"
#include "kernel_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::kernels;
using hpcnn::test::DeviceVector;
using hpcnn::test::random_vector;

namespace {
void check_close(const char* what, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-30, worst = 0;
  size_t at = 0;
  for (float w : want) scale = std::max(scale, std::abs(static_cast<double>(w)));
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - want[i]);
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  INFO(what << ": worst |diff| " << worst << " at " << at << " (got " << got[at] << ", want " << want[at] << "), scale "
            << scale);
  CHECK(worst <= 1e-4 * scale);
}

/// One training pass of a prepared conv on `be`, in the model's order
/// (forward, backward_weights, backward_data): {dst, diff_src, diff_weights, diff_bias}.
std::vector<std::vector<float>> conv_pass(Backend& be, ConvOp& op, const ConvGeometry& g, const std::vector<float>& src,
                                          const std::vector<float>& w, const std::vector<float>& b,
                                          const std::vector<float>& diff_dst) {
  DeviceVector s(be, src), wt(be, w), bi(be, b), dd(be, diff_dst);
  DeviceVector dst(be, static_cast<int64_t>(diff_dst.size())), ds(be, static_cast<int64_t>(src.size())),
      dw(be, static_cast<int64_t>(w.size())), db(be, g.oc);
  op.forward(s.get(), wt.get(), bi.get(), dst.get());
  op.backward_weights(s.get(), dd.get(), dw.get(), db.get());
  op.backward_data(dd.get(), wt.get(), ds.get());
  return {dst.host(), ds.host(), dw.host(), db.host()};
}

/// conv_pass's four outputs of the oneDNN side (out[1]) against the reference's (out[0]).
void check_conv_close(const std::vector<std::vector<float>> (&out)[2]) {
  const char* names[] = {"dst", "diff_src", "diff_weights", "diff_bias"};
  for (size_t t = 0; t < 4; ++t) check_close(names[t], out[1][t], out[0][t]);
}

/// One forward and backward of a max-pool on `be`: {dst, diff_src}.
std::vector<std::vector<float>> pool_pass(Backend& be, const PoolGeometry& g, const std::vector<float>& src,
                                          const std::vector<float>& diff_dst) {
  DeviceVector s(be, src), dd(be, diff_dst), dst(be, g.n * g.c * g.oh * g.ow), ds(be, g.n * g.c * g.ih * g.iw);
  auto op = be.make_pool(g);
  op->forward(s.get(), dst.get());
  op->backward(dd.get(), ds.get());
  return {dst.host(), ds.host()};
}

struct Pair {
  std::unique_ptr<Backend> ref = make_reference_backend();
  std::unique_ptr<Backend> dnn = make_onednn_backend(2);
};
}  // namespace

TEST_CASE("oneDNN conv2d equals the reference, forward and backward", "[kernels][onednn]") {
  Pair p;
  Rng shapes(2024);
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(shapes.uniform_index(3));
    const int64_t ic = 1 + static_cast<int64_t>(shapes.uniform_index(5));
    const int64_t oc = 1 + static_cast<int64_t>(shapes.uniform_index(9));
    const int64_t k = 1 + static_cast<int64_t>(shapes.uniform_index(4));
    const int64_t stride = 1 + static_cast<int64_t>(shapes.uniform_index(2));
    const bool same = shapes.bernoulli(0.5);
    const int64_t ih = k + static_cast<int64_t>(shapes.uniform_index(9)),
                  iw = k + static_cast<int64_t>(shapes.uniform_index(9));
    const ConvGeometry g = test::conv_geometry(n, ic, ih, iw, oc, k, stride, same);
    INFO("trial " << trial << ": n" << n << " ic" << ic << " " << ih << "x" << iw << " oc" << oc << " k" << k << " s"
                  << stride << (same ? " same" : " valid"));
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 100 + trial);
    const auto w = random_vector(g.oc * g.ic * g.kh * g.kw, 200 + trial);
    const auto b = random_vector(g.oc, 300 + trial);
    const auto diff_dst = random_vector(g.n * g.oc * g.oh * g.ow, 400 + trial);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.dnn.get()})
      out[side++] = conv_pass(*be, *be->make_conv(g), g, src, w, b, diff_dst);
    check_conv_close(out);
  }
}

TEST_CASE("oneDNN dense and max-pool equal the reference", "[kernels][onednn]") {
  Pair p;
  for (const DenseGeometry& g :
       {DenseGeometry{1, 1, 1}, DenseGeometry{3, 17, 5}, DenseGeometry{32, 196, 128}, DenseGeometry{7, 33, 10}}) {
    INFO("dense " << g.n << "x" << g.in << " -> " << g.out);
    const auto src = random_vector(g.n * g.in, 1), w = random_vector(g.out * g.in, 2), b = random_vector(g.out, 3),
               diff_dst = random_vector(g.n * g.out, 4);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.dnn.get()}) {
      DeviceVector s(*be, src), wt(*be, w), bi(*be, b), dd(*be, diff_dst);
      DeviceVector dst(*be, g.n * g.out), ds(*be, g.n * g.in), dw(*be, g.out * g.in), db(*be, g.out);
      auto op = be->make_dense(g);
      op->forward(s.get(), wt.get(), bi.get(), dst.get());
      op->backward_data(dd.get(), wt.get(), ds.get());
      op->backward_weights(s.get(), dd.get(), dw.get(), db.get());
      out[side++] = {dst.host(), ds.host(), dw.host(), db.host()};
    }
    check_close("dense dst", out[1][0], out[0][0]);
    check_close("dense diff_src", out[1][1], out[0][1]);
    check_close("dense diff_weights", out[1][2], out[0][2]);
    check_close("dense diff_bias", out[1][3], out[0][3]);
  }
  for (const PoolGeometry& g : {PoolGeometry{2, 3, 7, 7, 2, 2, 3, 3}, PoolGeometry{1, 4, 28, 28, 4, 4, 7, 7},
                                PoolGeometry{3, 2, 9, 8, 3, 2, 4, 3}}) {
    INFO("pool " << g.ih << "x" << g.iw << " k" << g.kernel << " s" << g.stride);
    const auto src = random_vector(g.n * g.c * g.ih * g.iw, 5), diff_dst = random_vector(g.n * g.c * g.oh * g.ow, 6);
    const std::vector<std::vector<float>> out[2] = {pool_pass(*p.ref, g, src, diff_dst),
                                                    pool_pass(*p.dnn, g, src, diff_dst)};
    check_close("pool dst", out[1][0], out[0][0]);
    check_close("pool diff_src", out[1][1], out[0][1]);
  }
}

// Few channels (fewer than 16 on both sides, stride 1): the oneDNN backend
// runs the host's direct convolution. Against the reference on random shapes
// over every kernel side it takes (1 to 7), same and valid padding, rows of
// several 8-lane chunks with a partial last one, with and without bias, and
// with the ReLU fused; oneDNN's own plain path (forced) on the same shapes.
TEST_CASE("Host small-channel conv2d equals the reference, forward (with ReLU) and backward", "[kernels][onednn]") {
  Pair p;
  Rng shapes(77);
  for (int trial = 0; trial < 24; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(shapes.uniform_index(3));
    const int64_t ic = 1 + static_cast<int64_t>(shapes.uniform_index(15));
    const int64_t oc = 1 + static_cast<int64_t>(shapes.uniform_index(15));
    const int64_t k = 1 + trial % 7;
    const bool same = trial % 2 == 0;
    const int64_t ih = k + static_cast<int64_t>(shapes.uniform_index(12)),
                  iw = k + static_cast<int64_t>(shapes.uniform_index(30));
    ConvGeometry g = test::conv_geometry(n, ic, ih, iw, oc, k, 1, same);
    g.bias = trial % 3 != 0;
    INFO("trial " << trial << ": n" << n << " ic" << ic << " " << ih << "x" << iw << " oc" << oc << " k" << k
                  << (same ? " same" : " valid") << (g.bias ? "" : " no bias"));
    REQUIRE(host_small_conv_suits(g));
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 900 + trial);
    const auto w = random_vector(g.oc * g.ic * g.kh * g.kw, 1000 + trial);
    const auto b = g.bias ? random_vector(g.oc, 1100 + trial) : std::vector<float>(static_cast<size_t>(g.oc), 0.0f);
    const auto diff_dst = random_vector(g.n * g.oc * g.oh * g.ow, 1200 + trial);
    std::vector<std::vector<float>> out[2];
    out[0] = conv_pass(*p.ref, *p.ref->make_conv(g), g, src, w, b, diff_dst);
    out[1] = conv_pass(*p.dnn, *make_host_small_conv(g), g, src, w, b, diff_dst);
    if (!g.bias) out[1][3] = out[0][3];  // no diff_bias without a bias
    check_conv_close(out);
    // The ReLU fused into the forward: the reference's output through maths' rule.
    ConvGeometry gr = g;
    gr.relu = true;
    const auto fused = conv_pass(*p.dnn, *make_host_small_conv(gr), gr, src, w, b, diff_dst);
    std::vector<float> want = out[0][0];
    for (float& x : want) x = x < 0.0f ? 0.0f : x;
    check_close("dst with ReLU", fused[0], want);
    // oneDNN's plain path, which the backend no longer picks for these shapes.
    setenv("HPCNN_ONEDNN_CONV_LAYOUT", "plain", 1);
    out[1] = conv_pass(*p.dnn, *p.dnn->make_conv(g), g, src, w, b, diff_dst);
    unsetenv("HPCNN_ONEDNN_CONV_LAYOUT");
    if (!g.bias) out[1][3] = out[0][3];
    check_conv_close(out);
  }
}

// Every output and weight gradient of the host small conv is one thread's,
// summed in a fixed order: the same bits on 1 and 3 threads. And columns past
// a tap's reach do not leak into its weight gradient: an inf in src's last
// column (which only the last tap column sees, in a valid convolution) leaves
// the other taps' gradients finite and equal to the reference's.
TEST_CASE("Host small-channel conv2d: same bits on any thread count, no leak past the row", "[kernels][onednn]") {
  const ConvGeometry g = test::conv_geometry(3, 4, 13, 11, 4, 2, 1, false);  // ow 10: a partial second chunk
  REQUIRE(host_small_conv_suits(g));
  auto src = random_vector(g.n * g.ic * g.ih * g.iw, 1300);
  const auto w = random_vector(g.oc * g.ic * g.kh * g.kw, 1301), b = random_vector(g.oc, 1302),
             diff_dst = random_vector(g.n * g.oc * g.oh * g.ow, 1303);
  std::vector<std::vector<float>> runs[2];
  for (int t = 0; t < 2; ++t) {
    auto be = make_onednn_backend(t == 0 ? 1 : 3);
    runs[t] = conv_pass(*be, *make_host_small_conv(g), g, src, w, b, diff_dst);
  }
  for (size_t t = 0; t < 4; ++t) {
    INFO("tensor " << t);
    REQUIRE(runs[0][t].size() == runs[1][t].size());
    CHECK(std::memcmp(runs[0][t].data(), runs[1][t].data(), runs[0][t].size() * sizeof(float)) == 0);
  }
  src[static_cast<size_t>(((1 * g.ic + 2) * g.ih + 5) * g.iw + g.iw - 1)] = INFINITY;
  auto ref = make_reference_backend();
  auto dnn = make_onednn_backend(2);
  const auto want = conv_pass(*ref, *ref->make_conv(g), g, src, w, b, diff_dst);
  const auto got = conv_pass(*dnn, *make_host_small_conv(g), g, src, w, b, diff_dst);
  for (int64_t oc = 0; oc < g.oc; ++oc)
    for (int64_t y = 0; y < g.kh; ++y) {
      const size_t at = static_cast<size_t>(((oc * g.ic + 2) * g.kh + y) * g.kw);  // tap x = 0 of input channel 2
      INFO("oc " << oc << " y " << y);
      REQUIRE(std::isfinite(want[2][at]));
      CHECK(std::isfinite(got[2][at]));
      CHECK(std::abs(got[2][at] - want[2][at]) <= 1e-4f * (1.0f + std::abs(want[2][at])));
    }
}

// Convolutions with whole blocks of output channels run on oneDNN's blocked
// layouts (3x3 ones with 16-channel blocks on both sides as Winograd),
// reorder at their edges and share reorders between passes: called
// in the model's order (forward, backward_weights, backward_data on the same
// buffers), twice on different data so a stale shared copy would show.
TEST_CASE("oneDNN blocked-layout conv2d equals the reference over two steps", "[kernels][onednn]") {
  Pair p;
  struct Shape {
    int64_t n, ic, ih, oc, k;
    bool same;
  };
  for (const Shape& sh : {Shape{2, 1, 12, 16, 3, false}, Shape{3, 16, 9, 32, 3, false}, Shape{2, 32, 8, 64, 3, true},
                          Shape{2, 3, 7, 16, 2, true},
                          Shape{4, 32, 26, 64, 3, false},  // keras-cnn's conv2 (Winograd where oneDNN has it)
                          Shape{3, 4, 10, 4, 2, true}}) {  // tiny-cnn's conv2: the host conv, whose padded copies
                                                           // are shared between passes the same way
    const ConvGeometry g = test::conv_geometry(sh.n, sh.ic, sh.ih, sh.ih, sh.oc, sh.k, 1, sh.same);
    INFO("n" << sh.n << " ic" << sh.ic << " " << sh.ih << "x" << sh.ih << " oc" << sh.oc << " k" << sh.k);
    std::unique_ptr<ConvOp> ops[2] = {p.ref->make_conv(g), p.dnn->make_conv(g)};
    for (int step = 0; step < 2; ++step) {
      const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 500 + step);
      const auto w = random_vector(g.oc * g.ic * g.kh * g.kw, 600 + step);
      const auto b = random_vector(g.oc, 700 + step);
      const auto diff_dst = random_vector(g.n * g.oc * g.oh * g.ow, 800 + step);
      std::vector<std::vector<float>> out[2];
      for (int side = 0; side < 2; ++side)
        out[side] = conv_pass(side == 0 ? *p.ref : *p.dnn, *ops[side], g, src, w, b, diff_dst);
      INFO("step " << step);
      check_conv_close(out);
    }
  }
}

// The host pool's fast paths (2x2 stride 2; 3x3 and 4x4 unrolled, any stride;
// the generic loop for 5x5) keep the reference's rules:
// the first maximum wins ties, NaN wins and propagates, an all -inf window
// keeps its first element. Bitwise, on values drawn from a few specials.
TEST_CASE("Host max-pool fast paths (2x2, unrolled 3x3 and 4x4) equal the reference on ties, NaN and -inf",
          "[kernels][onednn]") {
  Pair p;
  for (const PoolGeometry& g : {PoolGeometry{2, 3, 8, 9, 2, 2, 4, 4}, PoolGeometry{2, 3, 9, 11, 3, 2, 4, 5},
                                PoolGeometry{2, 3, 12, 13, 4, 4, 3, 3}, PoolGeometry{1, 2, 10, 10, 5, 5, 2, 2}}) {
    INFO("pool " << g.ih << "x" << g.iw << " k" << g.kernel << " s" << g.stride);
    const float specials[] = {-INFINITY, -1.0f, 0.0f, -0.0f, 1.0f, NAN};
    Rng rng(31);
    std::vector<float> src(static_cast<size_t>(g.n * g.c * g.ih * g.iw));
    for (float& x : src) x = specials[rng.uniform_index(6)];
    const auto diff_dst = random_vector(g.n * g.c * g.oh * g.ow, 32);
    const std::vector<std::vector<float>> out[2] = {pool_pass(*p.ref, g, src, diff_dst),
                                                    pool_pass(*p.dnn, g, src, diff_dst)};
    for (int t = 0; t < 2; ++t) {
      REQUIRE(out[0][t].size() == out[1][t].size());
      for (size_t i = 0; i < out[0][t].size(); ++i) {
        INFO("tensor " << t << " element " << i);
        CHECK(std::memcmp(&out[0][t][i], &out[1][t][i], sizeof(float)) == 0);
      }
    }
  }
}

// Large parameter buffers take Adam's streaming path (SSE lanes, non-temporal
// stores): bitwise the reference, also when params, m and v start off the
// 16-byte boundary and the length is not a multiple of four.
TEST_CASE("Adam's streaming path for large buffers equals the reference bitwise", "[kernels][onednn]") {
  Pair p;
  const int64_t count = (int64_t{1} << 21) + 7;
  for (const int64_t shift : {int64_t{0}, int64_t{1}, int64_t{3}}) {
    INFO("offset " << shift);
    const auto params = random_vector(count + 4, 41), grads = random_vector(count + 4, 42, -1e-2f, 1e-2f);
    auto m0 = random_vector(count + 4, 43, -1e-3f, 1e-3f), v0 = random_vector(count + 4, 44, 0.0f, 1e-4f);
    AdamStep step;
    step.lr_t = 1e-3f;
    std::vector<float> out[2][3];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.dnn.get()}) {
      DeviceVector pp(*be, params), gg(*be, grads), mm(*be, m0), vv(*be, v0);
      // params shifted by `shift`, m by 2 * shift: neither aligned to the other.
      be->adam_update(pp.get() + shift, gg.get() + shift, mm.get() + (2 * shift) % 4, vv.get() + shift, count, step);
      be->adam_update(pp.get() + shift, gg.get() + shift, mm.get() + (2 * shift) % 4, vv.get() + shift, count, step);
      out[side][0] = pp.host();
      out[side][1] = mm.host();
      out[side][2] = vv.host();
      ++side;
    }
    for (int t = 0; t < 3; ++t) CHECK(std::memcmp(out[0][t].data(), out[1][t].data(), out[0][t].size() * 4) == 0);
  }
}

// The CPU backends' element-wise ops, dropout and optimizers (shared maths,
// AVX-512 clones where the CPU has them, split over threads) against the
// reference's own loops, bitwise, on buffers large enough to run in parallel.
TEST_CASE("Host element-wise ops, dropout and optimizers equal the reference bitwise", "[kernels][onednn]") {
  Pair p;
  const int64_t n = 37, per_sample = 4099, count = n * per_sample;
  auto x = random_vector(count, 51), y = random_vector(count, 52), g = random_vector(count, 53, -1e-2f, 1e-2f);
  x[5] = -0.0f;
  x[6] = NAN;
  std::vector<int64_t> samples(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s) samples[static_cast<size_t>(s)] = 1000 + 7 * s;
  DropoutParams d;
  d.layer_key = 0x1234567890abcdefULL;
  d.threshold = 4194304;  // rate 0.25
  d.keep_scale = 1.0f / 0.75f;
  AdamStep step;
  step.lr_t = 1e-3f;
  std::vector<std::vector<float>> out[2];
  int side = 0;
  for (Backend* be : {p.ref.get(), p.dnn.get()}) {
    DeviceVector a(*be, x), b(*be, y), gr(*be, g), o1(*be, count), o2(*be, count), o3(*be, count), o4(*be, count),
        o5(*be, count), prm(*be, y), m(*be, count), v(*be, count), vel(*be, count), prm2(*be, y);
    be->relu_forward(a.get(), o1.get(), count);
    be->relu_backward(a.get(), b.get(), o2.get(), count);
    be->multiply(a.get(), b.get(), o3.get(), count);
    be->dropout_forward(a.get(), o4.get(), n, per_sample, samples.data(), d);
    be->dropout_backward(b.get(), o5.get(), n, per_sample, samples.data(), d);
    for (int k = 0; k < 3; ++k) {
      be->adam_update(prm.get(), gr.get(), m.get(), v.get(), count, step);
      be->sgd_update(prm2.get(), gr.get(), vel.get(), count, 0.01f, 0.9f);
    }
    out[side++] = {o1.host(), o2.host(), o3.host(), o4.host(), o5.host(), prm.host(), m.host(), v.host(), prm2.host()};
  }
  const char* names[] = {"relu",        "relu_grad", "multiply", "dropout fwd", "dropout bwd",
                         "adam params", "adam m",    "adam v",   "sgd params"};
  for (size_t t = 0; t < out[0].size(); ++t) {
    INFO(names[t]);
    CHECK(std::memcmp(out[0][t].data(), out[1][t].data(), out[0][t].size() * sizeof(float)) == 0);
  }
}

// --precision bf16: on a CPU with BF16 arithmetic the convolutions agree with
// the reference to bfloat16's precision (8 bits of mantissa in the inputs,
// FP32 accumulation): relative RMS error below 1e-2 on every output; elsewhere
// the backend refuses in one line naming the ISA. (The model test covers bf16
// through the private layout.)
TEST_CASE("oneDNN bf16 convolutions track the reference, or are refused clearly", "[kernels][onednn][bf16]") {
  std::string isa;
  if (!cpu_computes_bf16(&isa)) {
    INFO("oneDNN ISA " << isa);
    CHECK_THROWS_WITH(make_onednn_backend(1, Precision::kBf16),
                      Catch::Contains("no BF16 arithmetic") && Catch::Contains(isa));
    return;
  }
  auto ref = make_reference_backend();
  auto bf = make_onednn_backend(2, Precision::kBf16);
  for (const ConvGeometry& g :
       {test::conv_geometry(3, 16, 10, 10, 32, 3, 1, true), test::conv_geometry(2, 1, 12, 12, 32, 3, 1, false),
        test::conv_geometry(2, 3, 9, 9, 5, 2, 2, true)}) {
    INFO("ic " << g.ic << " oc " << g.oc << " k " << g.kh);
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 71), w = random_vector(g.oc * g.ic * g.kh * g.kw, 72),
               b = random_vector(g.oc, 73), diff_dst = random_vector(g.n * g.oc * g.oh * g.ow, 74);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {ref.get(), bf.get()}) out[side++] = conv_pass(*be, *be->make_conv(g), g, src, w, b, diff_dst);
    const char* names[] = {"dst", "diff_src", "diff_weights", "diff_bias"};
    for (int t = 0; t < 4; ++t) {
      double num = 0, den = 0;
      for (size_t i = 0; i < out[0][t].size(); ++i) {
        const double d = static_cast<double>(out[1][t][i]) - out[0][t][i];
        num += d * d;
        den += static_cast<double>(out[0][t][i]) * out[0][t][i];
      }
      INFO(names[t]);
      CHECK(std::sqrt(num / den) < 1e-2);
      CHECK(std::sqrt(num / den) > 0.0);  // it did compute in bf16, not silently in fp32
    }
  }
}

TEST_CASE("oneDNN grouped, depthwise and bias-free conv2d equal the reference", "[kernels][onednn]") {
  Pair p;
  struct Case {
    int64_t n, ic, ih, iw, oc, k, stride, groups;
    bool same, bias;
  };
  // MobileNet's shapes: depthwise 3 x 3 (stride 1 same, stride 2 valid after
  // zero padding), 1 x 1 pointwise without bias; and grouped convolutions.
  for (const Case& c : {Case{2, 16, 12, 12, 16, 3, 1, 16, true, false}, Case{2, 48, 13, 13, 48, 3, 2, 48, false, false},
                        Case{3, 8, 6, 6, 48, 1, 1, 1, false, false}, Case{1, 6, 7, 9, 6, 3, 1, 6, true, true},
                        Case{2, 8, 9, 7, 12, 3, 2, 4, true, true}, Case{1, 4, 5, 5, 8, 2, 1, 2, false, false}}) {
    ConvGeometry g = test::conv_geometry(c.n, c.ic, c.ih, c.iw, c.oc, c.k, c.stride, c.same);
    g.groups = c.groups;
    g.bias = c.bias;
    INFO("conv n" << c.n << " ic" << c.ic << " " << c.ih << "x" << c.iw << " oc" << c.oc << " k" << c.k << " s"
                  << c.stride << " g" << c.groups << (c.bias ? "" : " nobias"));
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 500);
    const auto w = random_vector(g.oc * (g.ic / g.groups) * g.kh * g.kw, 501);
    const auto b = random_vector(g.oc, 502);
    const auto diff_dst = random_vector(g.n * g.oc * g.oh * g.ow, 503);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.dnn.get()}) {
      DeviceVector s(*be, src), wt(*be, w), bi(*be, b), dd(*be, diff_dst);
      DeviceVector dst(*be, static_cast<int64_t>(diff_dst.size())), ds(*be, static_cast<int64_t>(src.size())),
          dw(*be, static_cast<int64_t>(w.size())), db(*be, g.oc);
      auto op = be->make_conv(g);
      op->forward(s.get(), wt.get(), c.bias ? bi.get() : nullptr, dst.get());
      op->backward_weights(s.get(), dd.get(), dw.get(), c.bias ? db.get() : nullptr);
      op->backward_data(dd.get(), wt.get(), ds.get());
      out[side++] = {dst.host(), ds.host(), dw.host(), db.host()};
    }
    check_conv_close(out);
  }
}
