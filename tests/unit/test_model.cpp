// The model as a whole: end-to-end gradients against finite differences,
// oneDNN against reference, dropout keyed by global sample index, training
// lowers the loss.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "backend.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "fixtures.hpp"
#include "host_backend.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"

using namespace hpcnn;
using namespace hpcnn::model;

using hpcnn::test::random_batch;

namespace {
/// Samples 60 parameters, compares backprop with central differences of the
/// training loss (same epoch => same dropout masks); returns how many agree.
int agreeing_gradients(const std::string& text, LossKind loss, float eps) {
  auto backend = kernels::make_reference_backend();
  const ModelSpec spec = resolve("t", text, Shape{2, 9, 8});
  Model model(spec, loss, *backend, 5);
  std::vector<float> params = model.params_host();
  if (loss == LossKind::kMeanSquaredError) params.back() = 2.0f;  // keep a final ReLU active
  model.set_params_host(params);
  const data::Batch batch = random_batch(spec, 3, loss, 9, 100);
  const float scale = 1.0f / 3.0f;
  model.train_step(batch, scale, 1);
  const std::vector<float> grads = model.grads_host();
  auto loss_at = [&](const std::vector<float>& p) {
    model.set_params_host(p);
    return scale * model.train_step(batch, scale, 1).loss_sum;
  };
  Rng pick(3);
  int agree = 0;
  for (int s = 0; s < 60; ++s) {
    const auto i = static_cast<size_t>(pick.uniform_index(params.size()));
    const float keep = params[i];
    params[i] = keep + eps;
    const double up = loss_at(params);
    params[i] = keep - eps;
    const double down = loss_at(params);
    params[i] = keep;
    const double numeric = (up - down) / (2.0 * eps);
    if (std::abs(numeric - grads[i]) <= 2e-3 * std::max(1.0, std::abs(numeric))) {
      ++agree;
    } else {
      UNSCOPED_INFO(text << " param " << i << ": analytic " << grads[i] << " numeric " << numeric);
    }
  }
  return agree;
}
}  // namespace

TEST_CASE("Model: end-to-end gradients match finite differences", "[model][gradcheck]") {
  for (LossKind loss : {LossKind::kSoftmaxCrossEntropy, LossKind::kMeanSquaredError}) {
    const std::string out = loss == LossKind::kSoftmaxCrossEntropy ? "dense:4" : "dense:1 relu";
    // Smooth everywhere (no ReLU or max inside): every sampled parameter must agree.
    CHECK(agreeing_gradients("conv:3x3:same conv:4x2:s2 dropout:0.3 flatten dense:6 " + out, loss, 1e-2f) == 60);
    // With ReLU and max-pool kinks a step can cross a kink; nearly all must still agree.
    CHECK(agreeing_gradients("conv:3x3:same relu conv:4x2:s2 relu maxpool:2 dropout:0.3 flatten dense:6 relu " + out,
                             loss, 1e-3f) >= 54);
  }
}

// MobileNetV2's pieces at a small size: a stem, an inverted residual block
// with its add, a stride-2 depthwise conv after Keras's zero padding, global
// average pooling, dropout.
constexpr const char* kSmallMobileNet =
    "conv:16x3:s2:same:nobias bn:m0.999 relu6@s conv:32x1:nobias bn relu6 dwconv:3:same:nobias bn relu6 "
    "conv:16x1:nobias bn add:s zeropad:0:1:0:1 dwconv:3:s2:nobias bn relu6 conv:24x1:g2 gap dropout:0.2 dense:10";

// tiny-cnn runs plain NCHW convolutions; the second model chains convs with
// whole blocks of 16 channels through ReLUs, so oneDNN keeps those tensors in
// its private nChw16c layout (Backend::has_private_layout) between them.
TEST_CASE("Model: oneDNN and reference give the same loss and gradients", "[model][onednn]") {
  auto ref = kernels::make_reference_backend();
  auto dnn = kernels::make_onednn_backend(2);
  const Shape small{1, 12, 12};
  for (const ModelSpec& spec : {make_model("tiny-cnn"),
                                make_model("conv:16x3:same relu conv:16x3 relu conv:32x3:same relu maxpool:2 "
                                           "dropout:0.25 flatten dense:10",
                                           &small),
                                make_model(kSmallMobileNet, &small)}) {
    INFO(spec.name);
    Model a(spec, LossKind::kSoftmaxCrossEntropy, *ref, 42);
    Model b(spec, LossKind::kSoftmaxCrossEntropy, *dnn, 42);
    CHECK(a.params_host() == b.params_host());  // same seed, same init
    const data::Batch batch = random_batch(spec, 5, LossKind::kSoftmaxCrossEntropy, 11);
    const auto la = a.train_step(batch, 0.2f, 0);
    const auto lb = b.train_step(batch, 0.2f, 0);
    CHECK(la.loss_sum == Approx(lb.loss_sum).epsilon(1e-5));
    const auto ga = a.grads_host(), gb = b.grads_host();
    double scale = 0, worst = 0;
    for (size_t i = 0; i < ga.size(); ++i) {
      scale = std::max(scale, std::abs(static_cast<double>(ga[i])));
      worst = std::max(worst, std::abs(static_cast<double>(ga[i]) - gb[i]));
    }
    CHECK(worst <= 1e-4 * scale);
    std::vector<float> oa, ob;
    const auto ea = a.evaluate(batch, &oa), eb = b.evaluate(batch, &ob);
    CHECK(ea.loss_sum == Approx(eb.loss_sum).epsilon(1e-5));
    REQUIRE(oa.size() == ob.size());
    for (size_t i = 0; i < oa.size(); ++i) CHECK(ob[i] == Approx(oa[i]).margin(1e-4));
  }
}

TEST_CASE("Model: a DAG with batch norm, depthwise convs, adds, padding and pooling: gradients", "[model][gradcheck]") {
  // Smooth everywhere (no ReLU6): every sampled parameter must agree. The
  // running statistics are parameters too, with a zero gradient.
  CHECK(agreeing_gradients("conv:4x3:same:nobias@a bn dwconv:3:same:nobias bn:e0.01 add:a zeropad:0:1:0:1 "
                           "dwconv:3:s2 conv:6x1:g2 bn gap dense:4",
                           LossKind::kSoftmaxCrossEntropy, 1e-2f) == 60);
  // A tensor added twice (x + x, and again later) gets both shares.
  CHECK(agreeing_gradients("conv:4x3:same@a add:a@b conv:4x1 add:b add:a flatten dense:1", LossKind::kMeanSquaredError,
                           1e-2f) == 60);
  CHECK(agreeing_gradients("conv:4x3:same:nobias bn relu6@a dwconv:3:same bn relu6 add:a gap dense:3",
                           LossKind::kSoftmaxCrossEntropy, 1e-3f) >= 54);
}

TEST_CASE("Model: frozen layers get no gradient and keep their batch-norm statistics", "[model]") {
  auto backend = kernels::make_reference_backend();
  const Shape in{2, 9, 8};
  // Without batch norm the frozen model's trainable gradients equal the full model's.
  const ModelSpec plain = make_model("conv:4x3 relu conv:4x3 relu flatten dense:5", &in);
  Model full(plain, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  Model part(plain, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  part.set_frozen_layers(2);
  CHECK(part.trainable_offset() == part.param_views()[2].weights_offset);
  const data::Batch batch = random_batch(plain, 4, LossKind::kSoftmaxCrossEntropy, 5);
  full.train_step(batch, 0.25f, 1);
  part.train_step(batch, 0.25f, 1);
  const auto gf = full.grads_host(), gp = part.grads_host();
  const auto offset = static_cast<size_t>(part.trainable_offset());
  for (size_t i = 0; i < offset; ++i) REQUIRE(gp[i] == 0.0f);
  for (size_t i = offset; i < gf.size(); ++i) REQUIRE(gp[i] == gf[i]);
  // A frozen batch norm normalises with its running statistics and leaves them be.
  const ModelSpec bn = make_model("conv:4x3 bn:m0.5 relu conv:4x3 bn:m0.5 relu gap dense:5", &in);
  Model frozen(bn, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  frozen.set_frozen_layers(3);
  const auto before = frozen.params_host();
  frozen.train_step(batch, 0.25f, 1);
  const auto after = frozen.params_host();
  const ParamView& v1 = frozen.param_views()[1];  // frozen: statistics unchanged
  const ParamView& v4 = frozen.param_views()[4];  // trainable: statistics move
  for (int64_t i = 0; i < v1.state_count; ++i)
    CHECK(after[static_cast<size_t>(v1.state_offset + i)] == before[static_cast<size_t>(v1.state_offset + i)]);
  int moved = 0;
  for (int64_t i = 0; i < v4.state_count; ++i)
    moved += after[static_cast<size_t>(v4.state_offset + i)] != before[static_cast<size_t>(v4.state_offset + i)];
  CHECK(moved == v4.state_count);
  CHECK_THROWS_WITH(frozen.set_frozen_layers(99), Catch::Contains("cannot freeze 99"));
}

TEST_CASE("Model: evaluation in chunks gives one pass's loss, counts and outputs", "[model]") {
  for (const bool fast : {false, true}) {
    auto backend = fast ? kernels::make_onednn_backend(2) : kernels::make_reference_backend();
    const Shape in{3, 12, 12};
    const ModelSpec spec = make_model("conv:8x3:same:nobias bn relu6@a dwconv:3:same bn add:a gap dense:5", &in);
    Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 9);
    const data::Batch batch = random_batch(spec, 23, LossKind::kSoftmaxCrossEntropy, 4);
    std::vector<float> whole, parts;
    const auto a = m.evaluate(batch, &whole);
    m.set_eval_chunk(5);  // 5 + 5 + 5 + 5 + 3
    const auto b = m.evaluate(batch, &parts);
    CHECK(b.correct == a.correct);
    CHECK(b.loss_sum == Approx(a.loss_sum).epsilon(1e-6));
    REQUIRE(parts.size() == whole.size());
    for (size_t i = 0; i < whole.size(); ++i) CHECK(parts[i] == Approx(whole[i]).margin(1e-5));
    if (!fast) CHECK(parts == whole);  // the reference's per-sample arithmetic does not depend on the batch
  }
}

TEST_CASE("Model: dropout masks depend on the global sample index, not the batch", "[model]") {
  std::vector<float> m1(64), m2(64), m3(64);
  dropout_mask(7, 2, 5, 1234, 0.25, m1);
  dropout_mask(7, 2, 5, 1234, 0.25, m2);
  dropout_mask(7, 3, 5, 1234, 0.25, m3);
  CHECK(m1 == m2);
  CHECK(m1 != m3);  // another epoch, another mask
  int kept = 0;
  std::vector<float> big(100000);
  dropout_mask(1, 0, 0, 0, 0.25, big);
  for (float v : big) {
    CHECK((v == 0.0f || v == Approx(1.0 / 0.75)));
    kept += v != 0.0f;
  }
  CHECK(std::abs(kept - 75000) < 600);
  // Splitting a batch in two gives the same gradients sum (the data-parallel identity).
  auto backend = kernels::make_reference_backend();
  const ModelSpec spec = make_model("keras-cnn", nullptr);
  const Shape small{1, 12, 12};
  const ModelSpec s2 =
      resolve("k", "conv:4x3 relu maxpool:2 dropout:0.5 flatten dense:8 relu dropout:0.5 dense:3", small);
  Model whole(s2, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  Model half(s2, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  const data::Batch batch = random_batch(s2, 4, LossKind::kSoftmaxCrossEntropy, 21, 50);
  whole.train_step(batch, 0.25f, 0);
  const auto g_whole = whole.grads_host();
  std::vector<double> sum(g_whole.size(), 0.0);
  for (int part = 0; part < 2; ++part) {
    data::Batch b;
    b.count = 2;
    b.samples.assign(batch.samples.begin() + part * 2 * 144, batch.samples.begin() + (part + 1) * 2 * 144);
    b.labels.assign(batch.labels.begin() + part * 2, batch.labels.begin() + (part + 1) * 2);
    b.indices.assign(batch.indices.begin() + part * 2, batch.indices.begin() + (part + 1) * 2);
    half.train_step(b, 0.25f, 0);
    const auto g = half.grads_host();
    for (size_t i = 0; i < g.size(); ++i) sum[i] += g[i];
  }
  for (size_t i = 0; i < g_whole.size(); ++i) REQUIRE(sum[i] == Approx(g_whole[i]).margin(1e-6));
  (void)spec;
}

// --precision bf16 end to end on a CPU that has it: a conv chain through the
// private layout (bf16 copies of nChw16c tensors) tracks the FP32 reference to
// bfloat16 precision. (No max-pool: rounding moves its winners, and a moved
// winner reroutes a gradient: 3% RMS with one, measured.)
TEST_CASE("Model: bf16 convolutions give the reference loss and gradients to 2%", "[model][onednn][bf16]") {
  if (!kernels::cpu_computes_bf16()) return;  // the refusal is tested with the kernels
  auto ref = kernels::make_reference_backend();
  auto bf = kernels::make_onednn_backend(2, kernels::Precision::kBf16);
  const Shape small{1, 12, 12};
  const ModelSpec spec = make_model("conv:16x3:same relu conv:32x3 flatten dense:10", &small);
  Model a(spec, LossKind::kSoftmaxCrossEntropy, *ref, 42);
  Model b(spec, LossKind::kSoftmaxCrossEntropy, *bf, 42);
  const data::Batch batch = random_batch(spec, 6, LossKind::kSoftmaxCrossEntropy, 12);
  const auto la = a.train_step(batch, 1.0f / 6, 0), lb = b.train_step(batch, 1.0f / 6, 0);
  CHECK(lb.loss_sum == Approx(la.loss_sum).epsilon(2e-2));
  const auto ga = a.grads_host(), gb = b.grads_host();
  double num = 0, den = 0;
  for (size_t i = 0; i < ga.size(); ++i) {
    num += (static_cast<double>(gb[i]) - ga[i]) * (static_cast<double>(gb[i]) - ga[i]);
    den += static_cast<double>(ga[i]) * ga[i];
  }
  CHECK(std::sqrt(num / den) < 2e-2);
}

TEST_CASE("Model: a few Adam steps on a small batch lower its loss", "[model]") {
  auto backend = kernels::make_onednn_backend(2);
  const ModelSpec spec = make_model("tiny-cnn");
  Model model(spec, LossKind::kSoftmaxCrossEntropy, *backend, 1);
  Optimizer opt({}, *backend, model.num_params());
  const data::Batch batch = random_batch(spec, 16, LossKind::kSoftmaxCrossEntropy, 4);
  const double first = model.train_step(batch, 1.0f / 16, 0).loss_sum / 16;
  opt.step(model.params(), model.grads());
  double last = first;
  for (int i = 0; i < 40; ++i) {
    last = model.train_step(batch, 1.0f / 16, 0).loss_sum / 16;
    opt.step(model.params(), model.grads());
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.5 * first);
  CHECK(opt.steps() == 41);
}

TEST_CASE("CPU backends flush denormals on every compute thread", "[model][denormals]") {
  for (const bool fast : {true, false}) {
    auto backend = fast ? kernels::make_onednn_backend(2) : kernels::make_reference_backend();
    REQUIRE(kernels::denormals_flushed_on_compute_threads());
    // A gradient of 1e-37 makes Adam's first moment 0.1 * 1e-37 = 1e-38, below
    // the smallest normal float (1.18e-38): flushed, it is exactly zero, and the
    // optimizer's passes never meet denormal operands (the MLP slow-down).
    const int64_t n = 100000;  // large enough for the parallel path
    std::vector<float> params(n, 1.0f), grads(n, 1e-37f), m(n, 0.0f), v(n, 0.0f);
    backend->adam_update(params.data(), grads.data(), m.data(), v.data(), n, kernels::AdamStep{1e-3f});
    CHECK(std::all_of(m.begin(), m.end(), [](float x) { return x == 0.0f; }));
    CHECK(std::all_of(params.begin(), params.end(), [](float x) { return x == 1.0f; }));
  }
}

TEST_CASE("Model: a LayerRecorder sees each layer's forward and backward within the pass, results unchanged",
          "[model][trace]") {
  auto backend = kernels::make_onednn_backend(1);
  const ModelSpec spec =
      resolve("k", "conv:4x3 relu maxpool:2 dropout:0.5 flatten dense:8 relu dense:3", Shape{1, 12, 12});
  const auto layers = static_cast<int>(spec.layers.size());
  Model plain(spec, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  Model traced(spec, LossKind::kSoftmaxCrossEntropy, *backend, 3);
  HostLayerRecorder recorder(*backend);
  for (int step = 0; step < 3; ++step) {
    const data::Batch batch = random_batch(spec, 4, LossKind::kSoftmaxCrossEntropy, 30 + step, 10 * step);
    const auto a = plain.train_step(batch, 0.25f, 1);
    Model::StepTimes times;
    const auto b = traced.train_step(batch, 0.25f, 1, &times, {}, &recorder);
    CHECK(a.loss_sum == b.loss_sum);
    CHECK(plain.grads_host() == traced.grads_host());  // bit for bit
    const std::vector<LayerRecorder::Span> spans = recorder.take();
    REQUIRE(spans.size() == static_cast<size_t>(2 * layers));
    for (int i = 0; i < 2 * layers; ++i) {
      const LayerRecorder::Span& s = spans[static_cast<size_t>(i)];
      const bool forward = i < layers;
      CHECK(s.pass == (forward ? LayerRecorder::Pass::kForward : LayerRecorder::Pass::kBackward));
      CHECK(s.layer == (forward ? i : 2 * layers - 1 - i));  // backward runs last layer first
      CHECK(s.start_s >= 0.0);
      CHECK(s.seconds >= 0.0);
      CHECK(s.start_s + s.seconds <= (forward ? times.forward_s : times.backward_s));
      if (i % layers > 0) CHECK(s.start_s >= spans[static_cast<size_t>(i - 1)].start_s);  // in order
    }
    CHECK(recorder.take().empty());
  }
}
