// Batched inference on several threads (core/cache_chunk.hpp's chunk_schedule):
// one chunk per thread must give every sample the outputs of one thread
// running the same chunks, bit for bit, in the inference engine and in Model
// evaluation; the rule picks that schedule only where every thread gets a
// chunk. And the host max-pool's evaluation forward (no argmax) gives its
// training forward's values.
#include <omp.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend.hpp"
#include "core/cache_chunk.hpp"
#include "core/rng.hpp"
#include "kernel_test_util.hpp"
#include "model/model.hpp"
#include "model_test_util.hpp"
#include "quant/inference_graph.hpp"

using namespace hpcnn;
using namespace hpcnn::model;

namespace {
using Env = test::ScopedEnv;

/// Bitwise equality of two float vectors (NaN payloads included); the first difference in INFO.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      UNSCOPED_INFO("first difference at " << i << ": " << a[i] << " against " << b[i]);
      return false;
    }
  return true;
}

using test::kMobileLike;
}  // namespace

TEST_CASE("Chunk schedule: one chunk per thread where every thread gets one, evened out", "[infer][schedule]") {
  // mnist-cnn's rule on a 1 MiB L2: 13 samples for one thread, 26 for two splitting each op.
  const ChunkSchedule big = chunk_schedule(512, 2, 13.0, 26.0);
  CHECK(big.slots == 2);
  CHECK(big.chunk == 13);  // 40 chunks: 20 rounds of 2
  const ChunkSchedule two = chunk_schedule(20, 2, 13.0, 26.0);
  CHECK(two.slots == 2);
  CHECK(two.chunk == 10);  // 13 + 7 evened out to 10 + 10
  const ChunkSchedule three = chunk_schedule(30, 2, 13.0, 26.0);
  CHECK(three.slots == 2);
  CHECK(three.chunk == 8);  // 3 chunks of 13 would leave a thread idle in the second round: 4 of 8
  const ChunkSchedule one = chunk_schedule(10, 2, 13.0, 26.0);  // one chunk: each op split over both threads
  CHECK(one.slots == 1);
  CHECK(one.chunk == 10);
  const ChunkSchedule alone = chunk_schedule(512, 1, 13.0, 13.0);
  CHECK(alone.slots == 1);
  CHECK(alone.chunk == 13);
  CHECK(chunk_schedule(64, 4, 1.0, 2.0).slots == 4);  // MobileNetV2 at 96x96: a sample a chunk
  CHECK(chunk_schedule(3, 4, 1.0, 2.0).slots == 1);   // fewer chunks than threads
  {
    Env env("HPCNN_INFER_SCHEDULE", "chunks");
    CHECK(chunk_schedule(3, 4, 1.0, 2.0).slots == 3);
    CHECK(chunk_schedule(1, 4, 1.0, 2.0).slots == 1);
  }
  {
    Env env("HPCNN_INFER_SCHEDULE", "ops");
    CHECK(chunk_schedule(512, 2, 13.0, 26.0).slots == 1);
    CHECK(chunk_schedule(512, 2, 13.0, 26.0).chunk == 26);
  }
  {
    Env env("HPCNN_INFER_CHUNK", "7");  // fixed: no evening out
    CHECK(chunk_schedule(30, 2, 13.0, 26.0).chunk == 7);
    CHECK(chunk_schedule(30, 2, 13.0, 26.0).slots == 2);
  }
  Env env("HPCNN_INFER_SCHEDULE", "threads");
  CHECK_THROWS_WITH(chunk_schedule(64, 2, 1.0, 2.0), Catch::Contains("HPCNN_INFER_SCHEDULE"));
}

TEST_CASE("Inference engine: one chunk per thread gives each sample the logits of a one-thread engine bitwise",
          "[infer][schedule]") {
  auto backend = kernels::make_onednn_backend(2);
  const Shape in{3, 20, 20};
  const ModelSpec spec = make_model(kMobileLike, &in);
  Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
  const data::Batch batch = test::random_batch(spec, 23, LossKind::kSoftmaxCrossEntropy, 5);
  const quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
  quant::Graph g8 = g;
  {
    quant::Calibration cal;
    quant::Engine e(g, 2);
    e.observe(&cal);
    CHECK(e.schedule(23).slots == 1);  // calibrating: one chunk at a time
    e.evaluate(batch);
    quant::quantize(g8, cal);
  }
  for (const quant::Graph* graph : {&g, static_cast<const quant::Graph*>(&g8)}) {
    for (const char* chunk : {"1", "4", "7"}) {  // 23 = 3 x 7 + 2: an uneven tail
      INFO((graph->int8 ? "int8" : "FP32") << ", HPCNN_INFER_CHUNK=" << chunk);
      const Env env("HPCNN_INFER_CHUNK", chunk);
      std::vector<float> one, two, ops;
      quant::Engine e1(*graph, 1);
      REQUIRE(e1.schedule(23).slots == 1);
      const kernels::LossResult r1 = e1.evaluate(batch, &one);
      quant::Engine e2(*graph, 2);
      REQUIRE(e2.schedule(23).slots == 2);
      const kernels::LossResult r2 = e2.evaluate(batch, &two);
      CHECK(same_bits(two, one));
      CHECK(r2.loss_sum == r1.loss_sum);
      CHECK(r2.correct == r1.correct);
      CHECK(!e2.implementations().empty());
      // Twice on the same engine (its slots' plans reused): the same again.
      std::vector<float> again;
      e2.evaluate(batch, &again);
      CHECK(same_bits(again, one));
      // Each op split over both threads: other kernels, within FP32 rounding.
      const Env ops_env("HPCNN_INFER_SCHEDULE", "ops");
      quant::Engine eo(*graph, 2);
      REQUIRE(eo.schedule(23).slots == 1);
      eo.evaluate(batch, &ops);
      REQUIRE(ops.size() == one.size());
      double worst = 0, scale = 1e-30;
      for (size_t i = 0; i < one.size(); ++i) {
        worst = std::max(worst, std::abs(static_cast<double>(ops[i]) - one[i]));
        scale = std::max(scale, std::abs(static_cast<double>(one[i])));
      }
      CHECK(worst <= 1e-5 * scale);
    }
  }
}

TEST_CASE("Model evaluation: one chunk per thread gives each sample the outputs of one thread bitwise",
          "[infer][schedule][model]") {
  // keras-cnn: conv -> relu -> conv, whose oneDNN primitives use a
  // scratchpad tied to the thread that made them (it crashed when the slots'
  // ops were all made on the calling thread).
  const char* const name = GENERATE("mnist-cnn", "keras-cnn");
  INFO(name);
  const ModelSpec spec = make_model(name, nullptr);
  const data::Batch batch = test::random_batch(spec, 100, LossKind::kSoftmaxCrossEntropy, 6);
  std::vector<float> params;
  SECTION("oneDNN: the one-thread model's chunks") {
    for (const char* chunk : {"9", "16"}) {  // 100 = 11 x 9 + 1, 6 x 16 + 4: uneven tails
      INFO("HPCNN_INFER_CHUNK=" << chunk);
      const Env env("HPCNN_INFER_CHUNK", chunk);
      std::vector<float> one, two;
      kernels::LossResult r1, r2;
      {
        auto backend = kernels::make_onednn_backend(1);  // sets the OpenMP team: one thread
        Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 11);
        params = m.params_host();
        REQUIRE(m.eval_schedule(100).slots == 1);
        r1 = m.evaluate(batch, &one);
      }
      auto backend = kernels::make_onednn_backend(2);
      Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 11);
      m.set_params_host(params);
      REQUIRE(m.eval_schedule(100).slots == 2);
      r2 = m.evaluate(batch, &two);
      CHECK(same_bits(two, one));
      CHECK(r2.loss_sum == r1.loss_sum);
      CHECK(r2.correct == r1.correct);
      std::vector<float> again;  // the slots' workspaces reused
      m.evaluate(batch, &again);
      CHECK(same_bits(again, one));
      // Training after evaluation still uses its own workspace (all threads).
      CHECK(std::isfinite(m.train_step(batch, 0.01f, 0).loss_sum));
    }
  }
  SECTION("reference: the whole batch, by the rule's own chunks") {
    // The reference backend's arithmetic per sample does not depend on the
    // batch, so the rule's chunks on two threads equal one pass.
    auto backend = kernels::make_reference_backend();
    omp_set_num_threads(2);
    Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 11);
    REQUIRE(m.eval_schedule(100).slots == 2);
    std::vector<float> chunked, whole;
    const kernels::LossResult a = m.evaluate(batch, &chunked);
    const Env env("HPCNN_INFER_CHUNK", "0");
    REQUIRE(m.eval_schedule(100).slots == 1);
    const kernels::LossResult b = m.evaluate(batch, &whole);
    CHECK(same_bits(chunked, whole));
    CHECK(a.loss_sum == b.loss_sum);  // added chunk by chunk in the same order
    CHECK(a.correct == b.correct);
  }
  SECTION("reference: a regression model's outputs and squared error") {
    auto backend = kernels::make_reference_backend();
    omp_set_num_threads(2);
    const Shape in{2, 9, 9};
    const ModelSpec reg = make_model("conv:8x3 relu flatten dense:3", &in);
    Model m(reg, LossKind::kMeanSquaredError, *backend, 5);
    const data::Batch b = test::random_batch(reg, 31, LossKind::kMeanSquaredError, 8);
    std::vector<float> chunked, whole;
    kernels::LossResult ra, rb;
    {
      const Env env("HPCNN_INFER_CHUNK", "4");  // 7 x 4 + 3
      REQUIRE(m.eval_schedule(31).slots == 2);
      ra = m.evaluate(b, &chunked);
    }
    {
      const Env env("HPCNN_INFER_SCHEDULE", "ops");
      const Env chunk_env("HPCNN_INFER_CHUNK", "4");
      REQUIRE(m.eval_schedule(31).slots == 1);
      rb = m.evaluate(b, &whole);
    }
    CHECK(same_bits(chunked, whole));
    CHECK(ra.loss_sum == rb.loss_sum);
  }
}

TEST_CASE("Host max-pool's evaluation forward equals its training forward bitwise on ties, NaN and -inf",
          "[infer][kernels][onednn]") {
  auto dnn = kernels::make_onednn_backend(2);
  auto ref = kernels::make_reference_backend();
  using kernels::PoolGeometry;
  for (const PoolGeometry& g : {PoolGeometry{2, 3, 8, 9, 2, 2, 4, 4}, PoolGeometry{2, 3, 9, 11, 3, 2, 4, 5},
                                PoolGeometry{2, 3, 12, 13, 4, 4, 3, 3}, PoolGeometry{1, 2, 10, 10, 5, 5, 2, 2},
                                PoolGeometry{3, 32, 26, 26, 2, 2, 13, 13, true}}) {
    for (const bool specials : {true, false}) {
      INFO("pool " << g.ih << "x" << g.iw << " k" << g.kernel << " s" << g.stride << (specials ? ", specials" : ""));
      const float values[] = {-INFINITY, -1.0f, 0.0f, -0.0f, 1.0f, NAN};
      Rng rng(37);
      std::vector<float> src(static_cast<size_t>(g.n * g.c * g.ih * g.iw));
      for (float& x : src) x = specials ? values[rng.uniform_index(6)] : static_cast<float>(rng.uniform() - 0.5);
      std::vector<float> out[3];
      int t = 0;
      for (kernels::Backend* be : {ref.get(), dnn.get(), dnn.get()}) {
        test::DeviceVector s(*be, src), d(*be, g.n * g.c * g.oh * g.ow);
        auto op = be->make_pool(g);
        if (t < 2) {
          op->forward(s.get(), d.get());  // the reference's and the host pool's training forward
        } else {
          op->forward_inference(s.get(), d.get());
        }
        out[t++] = d.host();
      }
      CHECK(same_bits(out[1], out[0]));
      CHECK(same_bits(out[2], out[1]));
    }
  }
}
