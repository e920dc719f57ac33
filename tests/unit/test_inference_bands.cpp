// Batch 1 on several threads (src/quant/band_schedule.hpp): each thread runs
// every op on its own band of rows in one parallel region. The logits must be
// those of the one-thread engine: int8 bitwise (the same kernels on each
// output pixel, integer accumulation), FP32 within rounding; on odd heights
// (uneven bands), more threads than the last layers' rows, and every host op.
#include <omp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "backend.hpp"
#include "core/rng.hpp"
#include "model/model.hpp"
#include "model_test_util.hpp"
#include "quant/band_schedule.hpp"
#include "quant/inference_graph.hpp"

using namespace hpcnn;
using namespace hpcnn::model;
using hpcnn::test::random_batch;

namespace {

/// The logits of `samples` single-sample batches, one evaluate() each.
std::vector<float> logits_at_batch_1(const quant::Graph& g, int threads, const ModelSpec& spec, int samples) {
  quant::Engine e(g, threads);
  std::vector<float> all;
  for (int s = 0; s < samples; ++s) {
    const data::Batch one = random_batch(spec, 1, LossKind::kSoftmaxCrossEntropy, 100 + static_cast<uint64_t>(s));
    std::vector<float> out;
    e.evaluate(one, &out);
    all.insert(all.end(), out.begin(), out.end());
  }
  // The engine took the band schedule where it should (its last line of implementations()).
  const std::vector<std::string> impl = e.implementations();
  const bool bands = !impl.empty() && impl.back().rfind("batch 1: band schedule on ", 0) == 0;
  CHECK(bands == quant::band_schedule_wanted(1, threads, g.int8));
  return all;
}

using test::worst_relative;

/// FP32 and int8 graphs of `text` at `in`, batch norm statistics from one
/// training step (momentum 0 in the MobileNet spec) or as initialised.
struct Graphs {
  ModelSpec spec;
  quant::Graph fp32, int8;
};
Graphs graphs(const std::string& text, const Shape& in, bool train_step) {
  auto backend = kernels::make_onednn_backend(2);
  Graphs r{make_model(text, &in), {}, {}};
  Model m(r.spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
  if (train_step) m.train_step(random_batch(r.spec, 32, LossKind::kSoftmaxCrossEntropy, 6), 1.0f / 32, 0);
  r.fp32 = quant::fold(r.spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
  quant::Engine e(r.fp32, 2);
  quant::Calibration cal;
  e.observe(&cal);
  e.evaluate(random_batch(r.spec, 16, LossKind::kSoftmaxCrossEntropy, 9));
  r.int8 = r.fp32;
  quant::quantize(r.int8, cal);
  return r;
}

void check_bands(const Graphs& g, int samples) {
  const std::vector<float> want = logits_at_batch_1(g.fp32, 1, g.spec, samples);
  const std::vector<float> want8 = logits_at_batch_1(g.int8, 1, g.spec, samples);
  double spread = 0;  // the logits must not be trivially equal (all zero)
  for (float x : want8) spread = std::max(spread, static_cast<double>(std::abs(x - want8[0])));
  CHECK(spread > 0);
  for (int threads : {2, 3}) {
    INFO(threads << " threads");
    REQUIRE(quant::band_schedule_wanted(1, threads));
    // FP32: the same kernel kinds per pixel; measured equal, bound at rounding.
    CHECK(worst_relative(logits_at_batch_1(g.fp32, threads, g.spec, samples), want) <= 1e-5);
    CHECK(logits_at_batch_1(g.int8, threads, g.spec, samples) == want8);
  }
  const test::ScopedEnv off("HPCNN_INFER_BANDS", "0");
  CHECK_FALSE(quant::band_schedule_wanted(1, 2));
  CHECK(logits_at_batch_1(g.int8, 2, g.spec, samples) == want8);
}
}  // namespace

TEST_CASE("Inference at batch 1 on 2 or 3 threads (band schedule) equals the one-thread engine on MobileNetV2",
          "[quant][int8][bands]") {
  // 35x35: odd heights all the way down (18, 9, 5, 3, 2), so bands are
  // uneven, and the last blocks have fewer rows than 3 threads.
  check_bands(graphs("mobilenetv2:0.35:3:m0", Shape{3, 35, 35}, true), 3);
}

TEST_CASE("Inference at batch 1 on 2 or 3 threads (band schedule) equals the one-thread engine through every host op",
          "[quant][int8][bands]") {
  // Host ops: an add the conv before it cannot do (its output is read
  // again), max pool, zero pad, affine (batch norm after a pad), relu6; a
  // dense head over the flattened rows.
  check_bands(graphs("conv:4x3:same relu@a conv:4x3:same add:a@b conv:4x1 add:b maxpool:2 zeropad:1:2:1:0 bn relu6 "
                     "conv:6x3:s2 relu flatten dense:5",
                     Shape{3, 13, 13}, false),
              3);
}

TEST_CASE("Band schedule with per-thread profiling on gives the same logits and one line a pass",
          "[quant][int8][bands]") {
  // HPCNN_INFER_BANDS_PROFILE=1 (results/mobilenet-infer/b1-bimodal.md)
  // times each step on each thread and adds a barrier at the end of the
  // region: the logits must stay those of the one-thread engine, and the
  // per-pass file must hold each pass with each thread's CPU and times.
  const Graphs g = graphs(
      "conv:4x3:same relu@a conv:4x3:same add:a@b conv:4x1 add:b maxpool:2 zeropad:1:2:1:0 bn "
      "relu6 conv:6x3:s2 relu flatten dense:5",
      Shape{3, 13, 13}, false);
  const int samples = 3;
  const std::vector<float> want = logits_at_batch_1(g.fp32, 1, g.spec, samples);
  const std::vector<float> want8 = logits_at_batch_1(g.int8, 1, g.spec, samples);
  const test::ScratchDir dir("bands-profile");
  const std::string passes = (dir / "passes.txt").string();
  {
    const test::ScopedEnv on("HPCNN_INFER_BANDS_PROFILE", "1");
    const test::ScopedEnv file("HPCNN_INFER_BANDS_PROFILE_PASSES", passes.c_str());
    // FP32 always runs in bands on 2 threads; int8 only with an int8 dot
    // product (not under ONEDNN_MAX_CPU_ISA=AVX2), where it rewrites the file.
    CHECK(worst_relative(logits_at_batch_1(g.fp32, 2, g.spec, samples), want) <= 1e-5);
    CHECK(logits_at_batch_1(g.int8, 2, g.spec, samples) == want8);
  }
  std::ifstream in(passes);
  REQUIRE(in.good());
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int pass = -1;
    fields >> pass;
    CHECK(pass == lines);
    for (int t = 0; t < 2; ++t) {
      int cpu = -1;
      double work = -1, wait = -1, join = -1;
      fields >> cpu >> work >> wait >> join;
      CHECK(cpu >= 0);
      CHECK(work > 0);
      CHECK(wait >= 0);
      CHECK(join >= 0);
    }
    CHECK(fields.good() == false);
    ++lines;
  }
  CHECK(lines == samples);
}

TEST_CASE("Band schedule: threads meet at a barrier only before ops that read rows another thread wrote",
          "[quant][bands]") {
  // Input copy, 1x1 conv (own rows: no barrier), 3x3 conv (halo: barrier),
  // 1x1 conv (own rows), global pool (all rows, on thread 0: barrier), dense
  // (thread 0 reads what thread 0 wrote: no barrier).
  auto backend = kernels::make_onednn_backend(2);
  const Shape in{3, 16, 16};
  const ModelSpec spec = make_model("conv:8x1 relu6 conv:8x3:same conv:4x1 gap dense:3", &in);
  Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
  const quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
  REQUIRE(g.ops.size() == 5);
  std::vector<kernels::InferConvSpec> conv(g.ops.size());
  std::vector<kernels::InferDenseSpec> dense(g.ops.size());
  std::vector<quant::BandOp> ops(g.ops.size());
  std::vector<std::vector<float>> buffers(static_cast<size_t>(g.num_tensors), std::vector<float>(4096));
  for (size_t k = 0; k < g.ops.size(); ++k) {
    const quant::Op& op = g.ops[k];
    ops[k].weights = {op.weights.data(), nullptr, nullptr, op.bias.data()};
    if (op.kind == quant::OpKind::kConv) {
      kernels::InferConvSpec& c = conv[k];
      c.ic = op.in.c, c.ih = op.in.h, c.iw = op.in.w, c.oc = op.out.c, c.kh = c.kw = op.kernel;
      c.stride = op.stride, c.groups = op.groups, c.oh = op.out.h, c.ow = op.out.w, c.act = op.act;
      c.pad_top = op.pad_top, c.pad_left = op.pad_left, c.pad_bottom = op.pad_bottom, c.pad_right = op.pad_right;
      ops[k].conv = &conv[k];
    } else if (op.kind == quant::OpKind::kDense) {
      dense[k].in = op.in.size(), dense[k].out = op.out.size(), dense[k].act = op.act;
      ops[k].dense = &dense[k];
    }
  }
  std::vector<quant::BandTensor> tensors(static_cast<size_t>(g.num_tensors));
  for (int t = 0; t < g.num_tensors; ++t)
    tensors[static_cast<size_t>(t)] = {buffers[static_cast<size_t>(t)].data(), false, t};
  const quant::BandSchedule s(g, ops, tensors, 2);
  CHECK(s.barriers() == 2);
}
