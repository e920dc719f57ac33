// The inference engine runs a batch in chunks (quant::Engine::chunk_size):
// the logits, the loss and the calibration ranges must not depend on how the
// batch was cut, and the chunk size must follow the cache rule.
#include <omp.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>

#include "backend.hpp"
#include "core/cache_chunk.hpp"
#include "model/model.hpp"
#include "model_test_util.hpp"
#include "quant/inference_graph.hpp"

using namespace hpcnn;
using namespace hpcnn::model;

namespace {
/// HPCNN_INFER_CHUNK set for one scope.
struct ChunkEnv : test::ScopedEnv {
  explicit ChunkEnv(const char* value) : ScopedEnv("HPCNN_INFER_CHUNK", value) {}
};

using test::worst_relative;

using test::kMobileLike;
}  // namespace

TEST_CASE("Inference engine: the logits do not depend on the chunk size", "[quant][chunks]") {
  auto backend = kernels::make_onednn_backend(2);
  const Shape in{3, 20, 20};
  const ModelSpec spec = make_model(kMobileLike, &in);
  Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
  const data::Batch batch = test::random_batch(spec, 23, LossKind::kSoftmaxCrossEntropy, 5);
  const quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());

  // Whole batch at once, calibrating: the baseline.
  std::vector<float> whole;
  quant::Calibration cal_whole;
  kernels::LossResult r_whole;
  {
    ChunkEnv env("0");
    quant::Engine e(g, 2);
    e.observe(&cal_whole);
    r_whole = e.evaluate(batch, &whole);
  }
  quant::Graph g8 = g;
  quant::quantize(g8, cal_whole);
  std::vector<float> whole8;
  {
    ChunkEnv env("0");
    quant::Engine e(g8, 2);
    e.evaluate(batch, &whole8);
  }
  for (const char* chunk : {"1", "4", "7", "23", "1000"}) {  // 23 = 3 x 7 + 2: an uneven tail
    INFO("HPCNN_INFER_CHUNK=" << chunk);
    ChunkEnv env(chunk);
    quant::Engine e(g, 2);
    quant::Calibration cal;
    e.observe(&cal);
    std::vector<float> got;
    const kernels::LossResult r = e.evaluate(batch, &got);
    CHECK(worst_relative(got, whole) <= 1e-5);
    CHECK(r.loss_sum == Approx(r_whole.loss_sum).epsilon(1e-5));
    CHECK(r.correct == r_whole.correct);
    CHECK(cal.samples == 23);
    REQUIRE(cal.max_abs.size() == cal_whole.max_abs.size());
    for (size_t k = 0; k < cal.max_abs.size(); ++k) {
      CHECK(cal.max_abs[k] == Approx(cal_whole.max_abs[k]).epsilon(1e-5));
      CHECK(cal.min[k] == Approx(cal_whole.min[k]).epsilon(1e-5).margin(1e-6));
    }
    quant::Engine e8(g8, 2);
    std::vector<float> got8;
    e8.evaluate(batch, &got8);
    // Integer accumulation is exact; only the FP32 rescaling may round differently.
    CHECK(worst_relative(got8, whole8) <= 1e-5);
  }
}

TEST_CASE("Inference engine: chunks keep the largest op in the L2 caches", "[quant][chunks]") {
  auto backend = kernels::make_onednn_backend(1);
  const Shape small_in{3, 8, 8}, big_in{3, 96, 96};
  const ModelSpec small = make_model("conv:8x3 relu gap dense:4", &small_in),
                  big = make_model("conv:128x3:same relu gap dense:4", &big_in);
  Model ms(small, LossKind::kSoftmaxCrossEntropy, *backend, 1), mb(big, LossKind::kSoftmaxCrossEntropy, *backend, 1);
  const quant::Graph gs = quant::fold(small, LossKind::kSoftmaxCrossEntropy, ms.params_host()),
                     gb = quant::fold(big, LossKind::kSoftmaxCrossEntropy, mb.params_host());
  quant::Engine es(gs, 1), eb(gb, 1), eb2(gb, 2);
  // 96x96x(3 + 128) FP32 values = 4.8 MB a sample: more than any L2, one at a time.
  CHECK(eb.chunk_size(64) == 1);
  // 8x8x(3 + 8) FP32 = 2.8 KB a sample: the whole batch fits.
  CHECK(es.chunk_size(64) == 64);
  CHECK(es.chunk_size(1) == 1);
  CHECK(eb2.chunk_size(64) >= eb.chunk_size(64));
  {
    ChunkEnv env("5");
    CHECK(eb.chunk_size(64) == 5);
    CHECK(eb.chunk_size(3) == 3);
  }
  {
    ChunkEnv env("0");
    CHECK(eb.chunk_size(64) == 64);
  }
  {
    ChunkEnv env("-2");
    CHECK_THROWS_WITH(eb.chunk_size(64), Catch::Contains("HPCNN_INFER_CHUNK"));
  }
}

TEST_CASE("Cache rule: a chunk holds the samples whose largest op fits the threads' L2 caches", "[quant][chunks]") {
  // 1 MiB of L2 a thread, 90 KB a sample (mnist-cnn's conv: 28x28x1 in, 26x26x32 out, FP32).
  const int64_t mib = int64_t{1} << 20, conv = (784 + 21632) * 4;
  CHECK(samples_in_l2(conv, 1, mib) == Approx(11.70).epsilon(1e-3));
  CHECK(samples_in_l2(conv, 2, mib) == Approx(23.39).epsilon(1e-3));
  CHECK(cache_chunk(512, samples_in_l2(conv, 2, mib)) == 23);
  CHECK(cache_chunk(10, samples_in_l2(conv, 2, mib)) == 10);     // never more than the batch
  CHECK(cache_chunk(512, samples_in_l2(8 * mib, 1, mib)) == 1);  // a sample that spills: one at a time
  CHECK(l2_cache_bytes() > 0);
  CHECK_THROWS_WITH(samples_in_l2(0, 1, mib), Catch::Contains("cache rule"));
  ChunkEnv env("7");
  CHECK(cache_chunk(512, 23.4) == 7);
}

TEST_CASE("Cache rule: a chunk moves at least the largest weight matrix through its largest op on each thread",
          "[quant][chunks]") {
  // mnist-cnn: dense:64 on 13x13x32 = 5408 inputs, 1.4 MB of FP32 weights,
  // re-read every chunk; its largest op (the max pool) moves 108 KB a sample.
  const int64_t mib = int64_t{1} << 20, dense = 5408 * 64 * 4, pool = (21632 + 5408) * 4;
  CHECK(samples_for_weights(dense, pool, 1) == Approx(12.80).epsilon(1e-3));
  CHECK(samples_for_weights(dense, pool, 2) == Approx(25.61).epsilon(1e-3));
  // Larger than the L2 term (10 and 19 samples on a 1 MiB L2): the weights decide.
  CHECK(cache_chunk(512, std::max(samples_in_l2(pool, 1, mib), samples_for_weights(dense, pool, 1))) == 13);
  CHECK(cache_chunk(512, std::max(samples_in_l2(pool, 2, mib), samples_for_weights(dense, pool, 2))) == 26);
  // Weights within the L2 never ask for more than the L2 term (MobileNetV2's
  // largest FP32 matrix is 573 KB): conv nets keep their chunks.
  for (const int threads : {1, 2})
    for (const int64_t weights : {int64_t{0}, 573 * int64_t{1000}, mib})
      CHECK(samples_for_weights(weights, 442 * 1000, threads) <= samples_in_l2(442 * 1000, threads, mib));
  CHECK(samples_for_weights(0, pool, 1) == 0.0);
  CHECK_THROWS_WITH(samples_for_weights(dense, 0, 1), Catch::Contains("cache rule"));
}

TEST_CASE("Model evaluation and the inference engine chunk a batch by the same cache rule", "[quant][chunks]") {
  for (const int threads : {1, 2}) {
    auto backend = kernels::make_onednn_backend(threads);
    for (const char* name : {"mnist-cnn", "keras-cnn", "tiny-cnn", "mlp:800-400-208"}) {
      INFO(name << ", " << threads << " thread(s)");
      const ModelSpec spec = make_model(name, nullptr);
      const LossKind loss = spec.output().size() > 1 ? LossKind::kSoftmaxCrossEntropy : LossKind::kMeanSquaredError;
      Model m(spec, loss, *backend, 3);
      const quant::Graph g = quant::fold(spec, loss, m.params_host());
      quant::Engine e(g, threads);
      for (const int64_t n : {1, 2, 64, 512}) CHECK(m.eval_chunk_size(n) == e.chunk_size(n));
    }
  }
  // mnist-cnn at batch 512 on 2 threads: its largest op is the max pool (26x26x32
  // in, 13x13x32 out, 108 KB a sample), 10 samples a chunk by one thread's L2
  // where the L2 is 1 MiB a core; dense:64's 1.4 MB of weights ask for 13,
  // and decide wherever the L2 is smaller than they are. 40 such chunks: one
  // per thread at a time (chunk_schedule), evened out. The whole batch at
  // once before the cache rule (the 1 GiB budget alone).
  auto backend = kernels::make_onednn_backend(2);
  Model m(make_model("mnist-cnn", nullptr), LossKind::kSoftmaxCrossEntropy, *backend, 3);
  const int threads = std::max(1, omp_get_max_threads());
  const int64_t pool = (21632 + 5408) * 4, dense = 5408 * 64 * 4;
  const auto rule = [&](int t) { return std::max(samples_in_l2(pool, t), samples_for_weights(dense, pool, t)); };
  CHECK(m.eval_chunk_size(512) < 512);
  CHECK(m.eval_schedule(512).slots == threads);
  CHECK(m.eval_chunk_size(512) == chunk_schedule(512, threads, rule(1), rule(threads)).chunk);
  CHECK(m.eval_chunk_size(512) <= cache_chunk(512, rule(1)));
  if (l2_cache_bytes() < dense) CHECK(m.eval_chunk_size(512) > cache_chunk(512, samples_in_l2(pool, 1)));
  {
    ChunkEnv env("0");
    CHECK(m.eval_chunk_size(512) == 512);
  }
  m.set_eval_chunk(5);
  CHECK(m.eval_chunk_size(512) == 5);
}

TEST_CASE("Model evaluation in cache-rule chunks equals one pass over the batch", "[model][chunks]") {
  // The reference backend's arithmetic per sample does not depend on the
  // batch: chunked and whole must agree bit for bit. oneDNN picks kernels by
  // batch size: there within FP32 rounding.
  for (const bool fast : {false, true}) {
    INFO((fast ? "onednn" : "reference"));
    auto backend = fast ? kernels::make_onednn_backend(2) : kernels::make_reference_backend();
    const ModelSpec spec = make_model("mnist-cnn", nullptr);
    Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 11);
    const data::Batch batch = test::random_batch(spec, 100, LossKind::kSoftmaxCrossEntropy, 6);
    REQUIRE(m.eval_chunk_size(batch.count) < batch.count);  // the rule cuts it (an uneven tail too, mostly)
    std::vector<float> chunked, whole;
    const kernels::LossResult a = m.evaluate(batch, &chunked);
    kernels::LossResult b;
    {
      ChunkEnv env("0");
      REQUIRE(m.eval_chunk_size(batch.count) == batch.count);
      b = m.evaluate(batch, &whole);
    }
    CHECK(a.correct == b.correct);
    if (fast) {
      CHECK(a.loss_sum == Approx(b.loss_sum).epsilon(1e-5));
      CHECK(worst_relative(chunked, whole) <= 1e-5);
    } else {
      CHECK(a.loss_sum == b.loss_sum);
      CHECK(chunked == whole);
    }
  }
}
