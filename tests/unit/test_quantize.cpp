// The inference engine (src/quant/): the folded FP32 graph gives the model's
// own evaluation (batch norm folded, padding folded, activations fused, the
// NHWC dense permutation), int8 stays close to it, and the file round-trips.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "backend.hpp"
#include "core/rng.hpp"
#include "model/model.hpp"
#include "model_test_util.hpp"
#include "quant/inference_graph.hpp"

using namespace hpcnn;
using namespace hpcnn::model;
using hpcnn::test::random_batch;

namespace {
// Batch norm statistics and affine parameters away from their initial 0/1,
// so folding them matters.
std::vector<float> perturbed_params(const Model& m, uint64_t key) {
  std::vector<float> p = m.params_host();
  Rng rng(key);
  for (const ParamView& v : m.param_views()) {
    const ResolvedLayer& l = m.spec().layers[static_cast<size_t>(v.layer)];
    if (l.spec.kind == LayerKind::kBatchNorm) {
      const int64_t c = l.output.c;
      for (int64_t k = 0; k < c; ++k) {
        p[static_cast<size_t>(v.weights_offset + k)] = static_cast<float>(rng.uniform(0.5, 1.5));
        p[static_cast<size_t>(v.bias_offset + k)] = static_cast<float>(rng.uniform(-0.3, 0.3));
        p[static_cast<size_t>(v.state_offset + k)] = static_cast<float>(rng.uniform(-0.2, 0.2));
        p[static_cast<size_t>(v.state_offset + c + k)] = static_cast<float>(rng.uniform(0.5, 2.0));
      }
    } else if (v.bias_count > 0) {
      for (int64_t k = 0; k < v.bias_count; ++k)
        p[static_cast<size_t>(v.bias_offset + k)] = static_cast<float>(rng.uniform(-0.1, 0.1));
    }
  }
  return p;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, double* scale) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  *scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
    *scale = std::max(*scale, std::abs(static_cast<double>(b[i])));
  }
  return worst;
}
}  // namespace

TEST_CASE("Folded FP32 graph equals the model's evaluation; int8 tracks it", "[quant][int8]") {
  auto backend = kernels::make_onednn_backend(2);
  const Shape in{3, 20, 20};
  for (const std::string& text :
       {std::string(
            "conv:16x3:s2:same:nobias bn:m0.999 relu6@s conv:32x1:nobias bn relu6 dwconv:3:same:nobias bn relu6 "
            "conv:16x1:nobias bn add:s zeropad:0:1:0:1 dwconv:3:s2:nobias bn relu6 conv:24x1 bn relu6 gap "
            "dropout:0.2 dense:10"),
        std::string(
            "conv:8x3 relu maxpool:2 conv:8x3:same@a bn add:a relu6 dropout:0.3 flatten dense:16 relu dense:5")}) {
    INFO(text);
    const ModelSpec spec = make_model(text, &in);
    Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
    m.set_params_host(perturbed_params(m, 3));
    const data::Batch batch = random_batch(spec, 24, LossKind::kSoftmaxCrossEntropy, 5);
    std::vector<float> want, got, got8;
    const auto r_model = m.evaluate(batch, &want);

    quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
    CHECK(g.ops.size() < spec.layers.size());  // something was folded
    quant::Engine fp32(g, 2);
    quant::Calibration cal;
    fp32.observe(&cal);
    const auto r_fp32 = fp32.evaluate(batch, &got);
    fp32.observe(nullptr);
    double scale = 0;
    CHECK(max_abs_diff(got, want, &scale) <= 1e-4 * std::max(1.0, scale));
    CHECK(r_fp32.loss_sum == Approx(r_model.loss_sum).epsilon(1e-4));
    CHECK(r_fp32.correct == r_model.correct);

    quant::Graph g8 = g;
    quant::quantize(g8, cal);
    CHECK(g8.int8);
    CHECK(g8.weight_bytes() < g.weight_bytes() / 2);
    quant::Engine int8(g8, 2);
    int8.evaluate(batch, &got8);
    // int8 logits within a few percent of the FP32 range; most predictions agree.
    CHECK(max_abs_diff(got8, got, &scale) <= 0.08 * scale);
    const int64_t k = static_cast<int64_t>(got.size()) / batch.count;
    int agree = 0;
    for (int64_t a = 0; a < batch.count; ++a) {
      const auto* x = got.data() + a * k;
      const auto* y = got8.data() + a * k;
      agree += std::max_element(x, x + k) - x == std::max_element(y, y + k) - y;
    }
    CHECK(agree >= 20);
    for (const std::string& impl : int8.implementations()) INFO(impl);

    // The file: the same graph back, the same logits.
    const auto path = std::filesystem::temp_directory_path() / ("hpcnn-quant-" + std::to_string(getpid()) + ".h5");
    quant::save_graph(path, g8);
    CHECK(quant::is_inference_file(path));
    const quant::Graph back = quant::load_graph(path);
    std::filesystem::remove(path);
    CHECK(back.int8);
    CHECK(back.ops.size() == g8.ops.size());
    CHECK(back.weight_bytes() == g8.weight_bytes());
    quant::Engine again(back, 2);
    std::vector<float> got_back;
    again.evaluate(batch, &got_back);
    CHECK(got_back == got8);
  }
}

TEST_CASE("Inference files: a training checkpoint or junk is refused by name", "[quant][bad-input]") {
  const auto path = std::filesystem::temp_directory_path() / ("hpcnn-notquant-" + std::to_string(getpid()) + ".h5");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("not hdf5", f);
    std::fclose(f);
  }
  CHECK_FALSE(quant::is_inference_file(path));
  CHECK_THROWS(quant::load_graph(path));
  std::filesystem::remove(path);
  quant::Graph g;
  CHECK_THROWS_WITH(quant::quantize(g, {}), Catch::Contains("no calibration"));
}
