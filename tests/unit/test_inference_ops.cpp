// The inference engine's oneDNN ops (kernels/inference.hpp) against the
// reference backend: FP32 to 1e-4; int8 against the reference run on the
// quantised values (input rounded to its scale, weights dequantised), which
// int8 arithmetic reproduces up to FP32 rounding. On a CPU without an int8
// dot product (or with oneDNN capped: ONEDNN_MAX_CPU_ISA=AVX2, AVX512_CORE,
// SSE41) the kernels multiply 7-bit weights (kernels::Int8Kernels): the
// reference then runs on those, and the bounds below hold on every ISA.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "backend.hpp"
#include "inference.hpp"
#include "kernel_test_util.hpp"

using namespace hpcnn;
using namespace hpcnn::kernels;
using hpcnn::test::random_vector;

namespace {
std::vector<float> nchw_to_nhwc(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<float> y(x.size());
  for (int64_t a = 0; a < n; ++a)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < h * w; ++i)
        y[static_cast<size_t>((a * h * w + i) * c + ch)] = x[static_cast<size_t>((a * c + ch) * h * w + i)];
  return y;
}

/// Runs `op` on `in_nhwc` and returns the worst absolute difference of its
/// output from `want_nhwc` and the largest |want| (at least 1e-30), which the
/// tests bound the difference by.
struct Deviation {
  double worst = 0, scale = 1e-30;
};
Deviation run_against(InferOp& op, const std::vector<float>& in_nhwc, const std::vector<float>& want_nhwc) {
  std::vector<float> got(want_nhwc.size());
  op.run(in_nhwc.data(), got.data());
  Deviation d;
  for (size_t i = 0; i < got.size(); ++i) {
    d.worst = std::max(d.worst, std::abs(static_cast<double>(got[i]) - want_nhwc[i]));
    d.scale = std::max(d.scale, std::abs(static_cast<double>(want_nhwc[i])));
  }
  return d;
}

float activate(float x, Activation act) {
  if (act == Activation::kRelu) return x < 0 ? 0 : x;
  if (act == Activation::kRelu6) return x < 0 ? 0 : (x > 6 ? 6 : x);
  return x;
}

/// Per-output-channel symmetric int8 weights: scale = max |w| / 127;
/// `dequantised` is what the kernels multiply on this CPU (the 8-bit weights,
/// or the 7-bit ones the engine derives from them).
void quantise_weights(const std::vector<float>& w, int64_t oc, std::vector<int8_t>& q, std::vector<float>& scales,
                      std::vector<float>& dequantised) {
  const auto per = static_cast<int64_t>(w.size()) / oc;
  q.resize(w.size());
  dequantised.resize(w.size());
  scales.assign(static_cast<size_t>(oc), 0.0f);
  for (int64_t c = 0; c < oc; ++c) {
    float m = 0;
    for (int64_t i = 0; i < per; ++i) m = std::max(m, std::abs(w[static_cast<size_t>(c * per + i)]));
    const float s = m > 0 ? m / 127.0f : 1.0f;
    scales[static_cast<size_t>(c)] = s;
    for (int64_t i = 0; i < per; ++i) {
      const auto k = static_cast<size_t>(c * per + i);
      q[k] = static_cast<int8_t>(std::lround(std::clamp(w[k] / s, -127.0f, 127.0f)));
      dequantised[k] = kernels::int8_kernels().weight_bits() == 8 ? s * q[k] : 2 * s * halve_int8_weight(q[k]);
    }
  }
}
}  // namespace

TEST_CASE("Inference conv (fp32 and int8, NHWC, fused activation) equals the reference", "[kernels][onednn][int8]") {
  auto ref = make_reference_backend();
  struct Case {
    int64_t n, ic, ih, iw, oc, k, stride, groups, pt, pl, pb, pr;
    Activation act;
    bool is_unsigned;
  };
  for (const Case& c : {Case{2, 16, 12, 12, 16, 3, 1, 16, 1, 1, 1, 1, Activation::kRelu6, true},  // depthwise, same
                        Case{2, 24, 12, 12, 24, 3, 2, 24, 0, 0, 1, 1, Activation::kRelu6, true},  // Keras's pad + s2
                        Case{3, 8, 6, 6, 48, 1, 1, 1, 0, 0, 0, 0, Activation::kNone, false},      // 1x1, signed in
                        Case{1, 3, 13, 13, 16, 3, 2, 1, 0, 0, 1, 1, Activation::kRelu, true},     // stem
                        Case{2, 12, 7, 7, 20, 3, 1, 4, 1, 1, 1, 1, Activation::kNone, false}}) {  // grouped
    ConvGeometry g{c.n, c.ic, c.ih, c.iw, c.oc, c.k, c.k, c.stride, c.pt, c.pl, c.pb, c.pr, 0, 0};
    g.oh = (c.ih + c.pt + c.pb - c.k) / c.stride + 1;
    g.ow = (c.iw + c.pl + c.pr - c.k) / c.stride + 1;
    g.groups = c.groups;
    INFO("int8 kernels: " << int8_kernels().describe());
    INFO("conv ic" << c.ic << " " << c.ih << "x" << c.iw << " oc" << c.oc << " k" << c.k << " s" << c.stride << " g"
                   << c.groups);
    auto src = random_vector(g.n * g.ic * g.ih * g.iw, 7, c.is_unsigned ? 0.0f : -3.0f, 3.0f);
    const auto w = random_vector(g.oc * (g.ic / g.groups) * g.kh * g.kw, 8);
    const auto bias = random_vector(g.oc, 9);
    const int64_t out_count = g.n * g.oc * g.oh * g.ow;
    InferConvSpec s{g.n,        g.ic,         g.ih,        g.iw, g.oc, g.kh,  g.kw,  g.stride, g.groups, g.pad_top,
                    g.pad_left, g.pad_bottom, g.pad_right, g.oh, g.ow, c.act, false, {},       false,    {}};
    for (const bool int8 : {false, true}) {
      INFO((int8 ? "int8" : "fp32"));
      std::vector<float> x = src, wr = w;
      std::vector<int8_t> q;
      std::vector<float> scales;
      s.int8 = int8;
      if (int8) {
        s.quant = {3.0f / (c.is_unsigned ? 255.0f : 127.0f), c.is_unsigned};
        for (float& v : x) v = s.quant.scale * std::round(v / s.quant.scale);  // what the op sees
        quantise_weights(w, g.oc, q, scales, wr);
      }
      std::vector<float> want(static_cast<size_t>(out_count));
      ref->make_conv(g)->forward(x.data(), wr.data(), bias.data(), want.data());
      for (float& v : want) v = activate(v, c.act);
      const auto want_nhwc = nchw_to_nhwc(want, g.n, g.oc, g.oh, g.ow);
      auto op = make_infer_conv(s, {w.data(), q.data(), scales.data(), bias.data()}, 2);
      INFO("oneDNN: " << op->implementation());
      const auto in_nhwc = nchw_to_nhwc(src, g.n, g.ic, g.ih, g.iw);
      std::vector<float> got(static_cast<size_t>(out_count));
      op->run(in_nhwc.data(), got.data());
      double worst = 0, scale = 1e-30;
      for (size_t i = 0; i < got.size(); ++i) {
        worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want_nhwc[i]));
        scale = std::max(scale, std::abs(static_cast<double>(want_nhwc[i])));
      }
      INFO("worst " << worst << " scale " << scale);
      CHECK(worst <= 2e-5 * scale * (int8 ? 10 : 1));
      if (!int8) continue;
      // The same op reading its input already quantised (as its producer
      // wrote it), and writing its output quantised for the next int8 op:
      // within half a step of the output's scale.
      InferConvSpec chained = s;
      chained.src_int8 = true;
      const bool out_unsigned = c.act != Activation::kNone;
      chained.dst_int8 = {true, {static_cast<float>(scale) / (out_unsigned ? 255.0f : 127.0f), out_unsigned}};
      std::vector<int8_t> q_in(in_nhwc.size());
      std::vector<uint8_t> q_out(got.size());
      for (size_t i = 0; i < in_nhwc.size(); ++i) {
        const long v = std::lround(in_nhwc[i] / s.quant.scale);
        q_in[i] = c.is_unsigned ? static_cast<int8_t>(static_cast<uint8_t>(std::clamp(v, 0L, 255L)))
                                : static_cast<int8_t>(std::clamp(v, -128L, 127L));
      }
      make_infer_conv(chained, {w.data(), q.data(), scales.data(), bias.data()}, 2)->run(q_in.data(), q_out.data());
      double worst_q = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const float step = chained.dst_int8.quant.scale;
        const float v = out_unsigned ? step * q_out[i] : step * static_cast<int8_t>(q_out[i]);
        worst_q = std::max(worst_q, std::abs(static_cast<double>(v) - want_nhwc[i]) / step);
      }
      INFO("int8 in and out: worst error " << worst_q << " steps");
      CHECK(worst_q <= 0.51 + 1e-3 * scale / chained.dst_int8.quant.scale);
    }
  }
}

TEST_CASE("Inference fp32 1x1 conv to or from 8 or 24 channels runs oneDNN's AVX2 kernel and equals the reference",
          "[kernels][onednn][infer]") {
  // The AVX-512 1x1 kernel pads 8 or 24 channels (in or out) to 16 or 32 lanes
  // (fp32_1x1_kernel in onednn_inference.cpp); where oneDNN may use AVX2 or
  // better the engine takes its AVX2 kernel for them over 6x6 pixels or
  // more a sample, and keeps the jit choice for 48->16 and 192->56 and for
  // 1280->8 at 3x3 (in a batch of 4 too: a sample gets one kernel at any chunk size).
  auto ref = make_reference_backend();
  const std::string isa = int8_kernels().isa;
  const bool has_avx512 = isa.find("avx512") != std::string::npos,
             has_avx2 = has_avx512 || isa.find("avx2") != std::string::npos;
  INFO("oneDNN's ISA: " << isa);
  struct Case {
    int64_t n, ic, hw, oc;
    bool avx2;
  };
  for (const Case& c : {Case{1, 16, 48, 8, true}, Case{2, 96, 6, 24, true}, Case{1, 48, 12, 16, false},
                        Case{1, 8, 12, 48, true}, Case{1, 24, 6, 144, true}, Case{1, 192, 3, 56, false},
                        Case{1, 1280, 3, 8, false}, Case{4, 1280, 3, 8, false}}) {
    INFO("1x1 conv ic" << c.ic << " " << c.hw << "x" << c.hw << " oc" << c.oc << " n" << c.n);
    ConvGeometry g{c.n, c.ic, c.hw, c.hw, c.oc, 1, 1, 1, 0, 0, 0, 0, c.hw, c.hw};
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 7, -3.0f, 3.0f);
    const auto w = random_vector(g.oc * g.ic, 8);
    const auto bias = random_vector(g.oc, 9);
    std::vector<float> want(static_cast<size_t>(g.n * g.oc * g.oh * g.ow));
    ref->make_conv(g)->forward(src.data(), w.data(), bias.data(), want.data());
    for (float& v : want) v = activate(v, Activation::kRelu6);
    const auto want_nhwc = nchw_to_nhwc(want, g.n, g.oc, g.oh, g.ow);
    InferConvSpec s{g.n,   g.ic, g.ih,  g.iw, g.oc, 1, 1, 1, 1, 0, 0, 0, 0, g.oh, g.ow, Activation::kRelu6,
                    false, {},   false, {}};
    auto op = make_infer_conv(s, {w.data(), nullptr, nullptr, bias.data()}, 1);
    const std::string impl = op->implementation();
    INFO("oneDNN: " << impl);
    const bool avx2_kernel = impl.rfind("jit_1x1:avx2", 0) == 0;
    if (c.avx2 && has_avx2) CHECK(avx2_kernel);
    if (!c.avx2 && has_avx512) CHECK(!avx2_kernel);  // below AVX-512 it is oneDNN's own first choice
    const auto [worst, scale] = run_against(*op, nchw_to_nhwc(src, g.n, g.ic, g.ih, g.iw), want_nhwc);
    INFO("worst " << worst << " scale " << scale);
    CHECK(worst <= 2e-5 * scale);
  }
}

TEST_CASE("Inference ops under 65536 multiply-adds run on one thread of two and equal the reference",
          "[kernels][onednn][infer]") {
  // A depthwise 3x3 over 144 channels at 6x6 (46656 multiply-adds: 1.6 us
  // on one thread) runs serially (serial_macs in onednn_inference.cpp); a
  // 1x1 16->96 at 12x12 (221184) keeps both threads, also when made after
  // the small one ran (the team is restored).
  auto ref = make_reference_backend();
  struct Case {
    int64_t ic, hw, oc, k, groups;
    bool serial;
  };
  for (const Case& c : {Case{144, 6, 144, 3, 144, true}, Case{16, 12, 96, 1, 1, false}}) {
    INFO("conv ic" << c.ic << " " << c.hw << "x" << c.hw << " oc" << c.oc << " k" << c.k << " g" << c.groups);
    const int64_t pad = c.k / 2;
    ConvGeometry g{1, c.ic, c.hw, c.hw, c.oc, c.k, c.k, 1, pad, pad, pad, pad, c.hw, c.hw};
    g.groups = c.groups;
    const auto src = random_vector(g.ic * g.ih * g.iw, 7, -3.0f, 3.0f);
    const auto w = random_vector(g.oc * (g.ic / g.groups) * g.kh * g.kw, 8);
    const auto bias = random_vector(g.oc, 9);
    std::vector<float> want(static_cast<size_t>(g.oc * g.oh * g.ow));
    ref->make_conv(g)->forward(src.data(), w.data(), bias.data(), want.data());
    const auto want_nhwc = nchw_to_nhwc(want, 1, g.oc, g.oh, g.ow);
    InferConvSpec s{1,        g.ic, g.ih,  g.iw, g.oc, g.kh, g.kw, 1,
                    g.groups, pad,  pad,   pad,  pad,  g.oh, g.ow, Activation::kNone,
                    false,    {},   false, {}};
    auto op = make_infer_conv(s, {w.data(), nullptr, nullptr, bias.data()}, 2);
    const std::string impl = op->implementation();
    INFO("oneDNN: " << impl);
    CHECK((impl.find("(1 thread)") != std::string::npos) == c.serial);
    const auto [worst, scale] = run_against(*op, nchw_to_nhwc(src, 1, g.ic, g.ih, g.iw), want_nhwc);
    INFO("worst " << worst << " scale " << scale);
    CHECK(worst <= 2e-5 * scale);
  }
}

TEST_CASE("Inference dense (fp32 and int8) equals the reference", "[kernels][onednn][int8]") {
  auto ref = make_reference_backend();
  // int8 with a u8 input (after a ReLU) and an s8 one (e.g. a pooled sum of residual adds).
  for (const auto& [int8, is_unsigned] : {std::pair{false, true}, std::pair{true, true}, std::pair{true, false}}) {
    INFO("int8 " << int8 << " unsigned input " << is_unsigned);
    const DenseGeometry g{5, 72, 3};
    auto src = random_vector(g.n * g.in, 1, is_unsigned ? 0.0f : -4.0f, 4.0f);
    const auto w = random_vector(g.out * g.in, 2), bias = random_vector(g.out, 3);
    InferDenseSpec s{g.n,   g.in, g.out, Activation::kNone, int8, {4.0f / (is_unsigned ? 255.0f : 127.0f), is_unsigned},
                     false, {}};
    std::vector<float> x = src, wr = w, scales;
    std::vector<int8_t> q;
    if (int8) {
      for (float& v : x) v = s.quant.scale * std::round(v / s.quant.scale);
      quantise_weights(w, g.out, q, scales, wr);
    }
    std::vector<float> want(static_cast<size_t>(g.n * g.out)), got(want.size());
    ref->make_dense(g)->forward(x.data(), wr.data(), bias.data(), want.data());
    make_infer_dense(s, {w.data(), q.data(), scales.data(), bias.data()}, 2)->run(src.data(), got.data());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-4));
  }
}
