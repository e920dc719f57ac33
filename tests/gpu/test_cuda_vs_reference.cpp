// The CUDA backend against the reference backend, op by op, on the random
// shapes of the oneDNN parity test: bitwise for the element-wise ops, dropout,
// max-pooling and the optimizers (they run kernels/common/maths.hpp, compiled
// with --fmad=false); 1e-5 relative for convolution and dense (cuDNN and
// cuBLAS sum in their own order); the loss to 1e-6 and its gradient bitwise.
// Each check prints its worst error (tools/gpu/verify.sh shows them).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <iostream>
#include <string>

#include "backend.hpp"
#include "common/maths.hpp"
#include "kernel_test_util.hpp"
#include "tree_twin.hpp"

using namespace hpcnn;
using namespace hpcnn::kernels;
using hpcnn::test::DeviceVector;
using hpcnn::test::random_vector;

namespace {
struct Pair {
  std::unique_ptr<Backend> ref = make_reference_backend();
  std::unique_ptr<Backend> gpu = make_cuda_backend({});
};

double worst_relative(const char* op, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-30, worst = 0;
  for (float w : want) scale = std::max(scale, std::abs(static_cast<double>(w)));
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want[i]));
  std::cout << "op " << op << " worst relative error " << worst / scale << "\n";
  return worst / scale;
}

void bitwise(const char* op, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
  std::cout << "op " << op << " elements differing " << differ << " of " << got.size() << "\n";
  CHECK(differ == 0);
}

/// The bias gradient of diff (N, C, P) as the CUDA kernel defines it: the
/// host's maths::tree_sum (issue 33.7).
std::vector<float> bias_by_tree(const std::vector<float>& diff, int64_t n, int64_t c, int64_t plane) {
  std::vector<float> out(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    const auto at = [&](int64_t i) { return diff[static_cast<size_t>(((i / plane) * c + ch) * plane + i % plane)]; };
    out[static_cast<size_t>(ch)] = static_cast<float>(maths::tree_sum(at, n * plane));
  }
  return out;
}

}  // namespace

TEST_CASE("cuda: conv2d equals the reference to 1e-5", "[gpu]") {
  Pair p;
  Rng shapes(2024);
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(shapes.uniform_index(3)),
                  ic = 1 + static_cast<int64_t>(shapes.uniform_index(5)),
                  oc = 1 + static_cast<int64_t>(shapes.uniform_index(9)),
                  k = 1 + static_cast<int64_t>(shapes.uniform_index(4)),
                  stride = 1 + static_cast<int64_t>(shapes.uniform_index(2));
    const bool same = shapes.bernoulli(0.5);
    const int64_t ih = k + static_cast<int64_t>(shapes.uniform_index(9)),
                  iw = k + static_cast<int64_t>(shapes.uniform_index(9));
    const ConvGeometry g = test::conv_geometry(n, ic, ih, iw, oc, k, stride, same);
    INFO("trial " << trial);
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 100 + trial),
               w = random_vector(g.oc * g.ic * g.kh * g.kw, 200 + trial), b = random_vector(g.oc, 300 + trial),
               dd = random_vector(g.n * g.oc * g.oh * g.ow, 400 + trial);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.gpu.get()}) {
      DeviceVector s(*be, src), wt(*be, w), bi(*be, b), d(*be, dd), dst(*be, static_cast<int64_t>(dd.size())),
          ds(*be, static_cast<int64_t>(src.size())), dw(*be, static_cast<int64_t>(w.size())), db(*be, g.oc);
      auto op = be->make_conv(g);
      op->forward(s.get(), wt.get(), bi.get(), dst.get());
      op->backward_weights(s.get(), d.get(), dw.get(), db.get());
      op->backward_data(d.get(), wt.get(), ds.get());
      out[side++] = {dst.host(), ds.host(), dw.host(), db.host()};
    }
    CHECK(worst_relative("conv forward", out[1][0], out[0][0]) <= 1e-5);
    CHECK(worst_relative("conv backward data", out[1][1], out[0][1]) <= 1e-5);
    CHECK(worst_relative("conv backward weights", out[1][2], out[0][2]) <= 1e-5);
    CHECK(worst_relative("conv backward bias", out[1][3], out[0][3]) <= 1e-5);
    bitwise("conv backward bias = maths::tree_sum", out[1][3], bias_by_tree(dd, g.n, g.oc, g.oh * g.ow));
  }
}

TEST_CASE("cuda: dense equals the reference to 1e-5, max-pool bitwise", "[gpu]") {
  Pair p;
  for (const DenseGeometry& g : {DenseGeometry{1, 1, 1}, DenseGeometry{3, 17, 5}, DenseGeometry{32, 196, 128}}) {
    const auto src = random_vector(g.n * g.in, 1), w = random_vector(g.out * g.in, 2), b = random_vector(g.out, 3),
               dd = random_vector(g.n * g.out, 4);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.gpu.get()}) {
      DeviceVector s(*be, src), wt(*be, w), bi(*be, b), d(*be, dd), dst(*be, g.n * g.out), ds(*be, g.n * g.in),
          dw(*be, g.out * g.in), db(*be, g.out);
      auto op = be->make_dense(g);
      op->forward(s.get(), wt.get(), bi.get(), dst.get());
      op->backward_data(d.get(), wt.get(), ds.get());
      op->backward_weights(s.get(), d.get(), dw.get(), db.get());
      out[side++] = {dst.host(), ds.host(), dw.host(), db.host()};
    }
    CHECK(worst_relative("dense forward", out[1][0], out[0][0]) <= 1e-5);
    CHECK(worst_relative("dense backward data", out[1][1], out[0][1]) <= 1e-5);
    CHECK(worst_relative("dense backward weights", out[1][2], out[0][2]) <= 1e-5);
    CHECK(worst_relative("dense backward bias", out[1][3], out[0][3]) <= 1e-5);
    bitwise("dense backward bias = maths::tree_sum", out[1][3], bias_by_tree(dd, g.n, g.out, 1));
  }
  for (const PoolGeometry& g : {PoolGeometry{2, 3, 7, 7, 2, 2, 3, 3}, PoolGeometry{1, 4, 28, 28, 4, 4, 7, 7},
                                PoolGeometry{3, 2, 9, 8, 3, 2, 4, 3}}) {
    const auto src = random_vector(g.n * g.c * g.ih * g.iw, 5), dd = random_vector(g.n * g.c * g.oh * g.ow, 6);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.gpu.get()}) {
      DeviceVector s(*be, src), d(*be, dd), dst(*be, g.n * g.c * g.oh * g.ow), ds(*be, g.n * g.c * g.ih * g.iw);
      auto op = be->make_pool(g);
      op->forward(s.get(), dst.get());
      op->backward(d.get(), ds.get());
      out[side++] = {dst.host(), ds.host()};
    }
    bitwise("max-pool forward", out[1][0], out[0][0]);
    bitwise("max-pool backward", out[1][1], out[0][1]);
  }
}

TEST_CASE("cuda: element-wise ops, dropout, losses and optimizers equal the reference bitwise", "[gpu]") {
  Pair p;
  const int64_t n = 37, per_sample = 4099, count = n * per_sample, k = per_sample;
  const auto x = random_vector(count, 51), y = random_vector(count, 52), g = random_vector(count, 53, -1e-2f, 1e-2f);
  std::vector<int64_t> samples(static_cast<size_t>(n));
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s) {
    samples[static_cast<size_t>(s)] = 1000 + 7 * s;
    labels[static_cast<size_t>(s)] = static_cast<int32_t>((s * 31) % k);
  }
  DropoutParams d;
  d.layer_key = 0x1234567890abcdefULL;
  d.threshold = 4194304;
  d.keep_scale = 1.0f / 0.75f;
  AdamStep step;
  step.lr_t = 1e-3f;
  std::vector<std::vector<float>> out[2];
  LossResult loss[2];
  int side = 0;
  for (Backend* be : {p.ref.get(), p.gpu.get()}) {
    DeviceVector a(*be, x), b(*be, y), gr(*be, g), o1(*be, count), o2(*be, count), o3(*be, count), o4(*be, count),
        o5(*be, count), o6(*be, count), prm(*be, y), m(*be, count), v(*be, count), vel(*be, count), prm2(*be, y);
    be->relu_forward(a.get(), o1.get(), count);
    be->relu_backward(a.get(), b.get(), o2.get(), count);
    be->multiply(a.get(), b.get(), o3.get(), count);
    be->dropout_forward(a.get(), o4.get(), n, per_sample, samples.data(), d);
    be->dropout_backward(b.get(), o5.get(), n, per_sample, samples.data(), d);
    be->softmax_cross_entropy(a.get(), labels.data(), n, k, 0.25f, o6.get());
    loss[side] = be->read_loss();
    for (int it = 0; it < 3; ++it) {
      be->adam_update(prm.get(), gr.get(), m.get(), v.get(), count, step);
      be->sgd_update(prm2.get(), gr.get(), vel.get(), count, 0.01f, 0.9f);
    }
    out[side++] = {o1.host(), o2.host(),  o3.host(), o4.host(), o5.host(),
                   o6.host(), prm.host(), m.host(),  v.host(),  prm2.host()};
  }
  const char* names[] = {"relu",
                         "relu gradient",
                         "multiply",
                         "dropout forward",
                         "dropout backward",
                         "softmax cross-entropy gradient",
                         "adam params",
                         "adam m",
                         "adam v",
                         "sgd params"};
  for (size_t t = 0; t < out[0].size(); ++t) {
    if (t == 5) {
      // exp and log in double differ between glibc and CUDA's libdevice in the last bit.
      CHECK(worst_relative(names[t], out[1][t], out[0][t]) <= 1e-6);
    } else {
      bitwise(names[t], out[1][t], out[0][t]);
    }
  }
  std::cout << "op softmax cross-entropy loss relative error "
            << std::abs(loss[1].loss_sum - loss[0].loss_sum) / std::abs(loss[0].loss_sum) << "\n";
  CHECK(loss[1].loss_sum == Approx(loss[0].loss_sum).epsilon(1e-6));
  CHECK(loss[1].correct == loss[0].correct);
  CHECK(p.gpu->transfers().host_to_device_bytes > 0);
}

TEST_CASE("cuda: the MobileNet layers equal the reference: convs and the tree-summed layers to 1e-5, the rest bitwise",
          "[gpu]") {
  Pair p;
  // Depthwise 3 x 3 stride 2 after Keras's padding, and a bias-free 1 x 1 conv.
  for (const bool depthwise : {true, false}) {
    ConvGeometry g = depthwise ? test::conv_geometry(3, 24, 13, 13, 24, 3, 2, false)
                               : test::conv_geometry(3, 24, 7, 7, 48, 1, 1, false);
    g.groups = depthwise ? 24 : 1;
    g.bias = false;
    const auto src = random_vector(g.n * g.ic * g.ih * g.iw, 61),
               w = random_vector(g.oc * (g.ic / g.groups) * g.kh * g.kw, 62),
               dd = random_vector(g.n * g.oc * g.oh * g.ow, 63);
    std::vector<std::vector<float>> out[2];
    int side = 0;
    for (Backend* be : {p.ref.get(), p.gpu.get()}) {
      DeviceVector s(*be, src), wt(*be, w), d(*be, dd), dst(*be, static_cast<int64_t>(dd.size())),
          ds(*be, static_cast<int64_t>(src.size())), dw(*be, static_cast<int64_t>(w.size()));
      auto op = be->make_conv(g);
      op->forward(s.get(), wt.get(), nullptr, dst.get());
      op->backward_weights(s.get(), d.get(), dw.get(), nullptr);
      op->backward_data(d.get(), wt.get(), ds.get());
      out[side++] = {dst.host(), ds.host(), dw.host()};
    }
    CHECK(worst_relative(depthwise ? "dwconv forward" : "conv 1x1 nobias forward", out[1][0], out[0][0]) <= 1e-5);
    CHECK(worst_relative("conv backward data", out[1][1], out[0][1]) <= 1e-5);
    CHECK(worst_relative("conv backward weights", out[1][2], out[0][2]) <= 1e-5);
  }
  const NormGeometry g{5, 12, 9, 7, 1e-3f, 0.99f};
  const int64_t count = g.n * g.c * g.h * g.w, planes = g.n * g.c;
  const auto x = random_vector(count, 71, -8.0f, 8.0f), dy = random_vector(count, 72),
             gamma = random_vector(g.c, 73, 0.5f, 1.5f), beta = random_vector(g.c, 74);
  std::vector<float> rm(static_cast<size_t>(g.c), 0.1f), rv(static_cast<size_t>(g.c), 0.9f);
  std::vector<std::vector<float>> out[2];
  int side = 0;
  for (Backend* be : {p.ref.get(), p.gpu.get()}) {
    DeviceVector a(*be, x), d(*be, dy), ga(*be, gamma), bt(*be, beta), mean(*be, rm), var(*be, rv), y(*be, count),
        yi(*be, count), dx(*be, count), dg(*be, g.c), db(*be, g.c), r6(*be, count), r6g(*be, count), sum(*be, count),
        gp(*be, planes), gpg(*be, count), pad(*be, planes * (g.h + 1) * (g.w + 1)), crop(*be, count);
    auto bn = be->make_batch_norm(g);
    bn->forward_training(a.get(), ga.get(), bt.get(), mean.get(), var.get(), y.get());
    bn->backward(a.get(), d.get(), ga.get(), dx.get(), dg.get(), db.get());
    bn->forward_inference(a.get(), ga.get(), bt.get(), mean.get(), var.get(), yi.get());
    be->relu6_forward(a.get(), r6.get(), count);
    be->relu6_backward(r6.get(), d.get(), r6g.get(), count);
    be->add(a.get(), d.get(), sum.get(), count);
    be->global_avg_pool_forward(a.get(), gp.get(), planes, g.h * g.w);
    be->global_avg_pool_backward(gp.get(), gpg.get(), planes, g.h * g.w);
    be->zero_pad_forward(a.get(), pad.get(), planes, g.h, g.w, 0, 1, 0, 1);
    be->zero_pad_backward(pad.get(), crop.get(), planes, g.h, g.w, 0, 1, 0, 1);
    out[side++] = {y.host(),  mean.host(), var.host(), dx.host(), dg.host(),  db.host(),  yi.host(),
                   r6.host(), r6g.host(),  sum.host(), gp.host(), gpg.host(), pad.host(), crop.host()};
  }
  const char* names[] = {"bn forward",          "bn running mean",
                         "bn running variance", "bn backward data",
                         "bn diff gamma",       "bn diff beta",
                         "bn inference",        "relu6",
                         "relu6 gradient",      "add",
                         "global average pool", "global average pool gradient",
                         "zero padding",        "zero padding gradient"};
  // Batch norm and global average pooling sum by maths::tree_sum's tree on
  // the GPU (issue 33.7): bitwise its host twin, and the host layers' index
  // order to 1e-5; the rest bitwise the reference.
  const std::vector<std::vector<float>> tree = hpcnn::test::tree_norm_and_gap(x, dy, gamma, beta, rm, rv, g);
  const size_t by_tree[] = {0, 1, 2, 3, 4, 5, 6, 10, 11};
  for (size_t t = 0; t < out[0].size(); ++t) {
    const size_t* hit = std::find(std::begin(by_tree), std::end(by_tree), t);
    if (hit == std::end(by_tree)) {
      bitwise(names[t], out[1][t], out[0][t]);
      continue;
    }
    bitwise((std::string(names[t]) + " = maths::tree_sum twin").c_str(), out[1][t],
            tree[static_cast<size_t>(hit - std::begin(by_tree))]);
    CHECK(worst_relative(names[t], out[1][t], out[0][t]) <= 1e-5);
  }
}

// Issue 27: before the launch helper, global average pooling and zero padding
// launched without the `count <= 0` guard the element-wise ops had, so an
// empty batch threw "CUDA launch of gap_kernel: an empty grid". Every call
// with no work now queues nothing, as on the host backends.
TEST_CASE("cuda: calls with no elements queue nothing and leave memory as it was", "[gpu]") {
  Pair p;
  DeviceVector x(*p.gpu, std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}),
      y(*p.gpu, std::vector<float>{5.0f, 6.0f, 7.0f, 8.0f});
  p.gpu->relu_forward(x.get(), y.get(), 0);
  p.gpu->relu6_forward(x.get(), y.get(), 0);
  p.gpu->add(x.get(), x.get(), y.get(), 0);
  p.gpu->fill(y.get(), 0.0f, 0);
  p.gpu->global_avg_pool_forward(x.get(), y.get(), 0, 4);
  p.gpu->global_avg_pool_backward(x.get(), y.get(), 0, 4);
  p.gpu->zero_pad_forward(x.get(), y.get(), 0, 1, 1, 0, 1, 0, 1);
  p.gpu->zero_pad_backward(x.get(), y.get(), 0, 1, 1, 0, 1, 0, 1);
  p.gpu->adam_update(y.get(), x.get(), y.get(), y.get(), 0, AdamStep{});
  p.gpu->synchronize();
  CHECK(y.host() == std::vector<float>{5.0f, 6.0f, 7.0f, 8.0f});
}
