// Model strings, presets and shape inference: the parameter totals of
// SEEDS.md exactly, and a clear error for every impossible model.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "model/model_spec.hpp"

using namespace hpcnn;
using namespace hpcnn::model;

TEST_CASE("Presets: parameter totals match SEEDS.md exactly", "[model]") {
  CHECK(make_model("tiny-cnn").total_params() == 26594);
  CHECK(make_model("mnist-cnn").total_params() == 347146);
  CHECK(make_model("keras-cnn").total_params() == 1199882);
  CHECK(make_model("solar-cnn").total_params() == 4352641);
  CHECK(make_model("circuit-cnn").total_params() == 351300);
  // The thesis MLP family (50 input features, 1 output).
  CHECK(make_model("mlp:3200").total_params() == 166401);
  CHECK(make_model("mlp:800-400-208").total_params() == 444817);
  CHECK(make_model("mlp:1600-800-416").total_params() == 1696033);
  CHECK(make_model("mlp:3200-1600-832").total_params() == 6617665);
  for (int64_t w : {50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600}) {
    CHECK(make_model("mlp:" + std::to_string(w)).total_params() == (50 + 1) * w + (w + 1));
  }
}

TEST_CASE("Shapes: valid and same convolution, pooling, flatten", "[model]") {
  const ModelSpec tiny = make_model("tiny-cnn");
  CHECK(tiny.layers[0].output == Shape{4, 28, 28});  // 2x2 same keeps 28
  CHECK(tiny.layers[0].pad_h.before == 0);           // TF: the extra padding goes after
  CHECK(tiny.layers[0].pad_h.after == 1);
  CHECK(tiny.layers[4].output == Shape{4, 7, 7});    // maxpool 4 stride 4
  CHECK(tiny.layers[5].output == Shape{196, 1, 1});  // flatten(196)
  const ModelSpec keras = make_model("keras-cnn");
  CHECK(keras.layers[2].output == Shape{64, 24, 24});
  CHECK(keras.layers[4].output == Shape{64, 12, 12});
  CHECK(keras.output() == Shape{10, 1, 1});
  const Shape in{3, 9, 9};
  const ModelSpec strided = make_model("conv:5x3:s2 relu conv:4x3:s2:same maxpool:2:s1", &in);
  CHECK(strided.layers[0].output == Shape{5, 4, 4});  // (9 - 3) / 2 + 1
  CHECK(strided.layers[2].output == Shape{4, 2, 2});  // ceil(4 / 2)
  CHECK(strided.layers[3].output == Shape{4, 1, 1});
  CHECK(make_model("solar-cnn").output() == Shape{1, 1, 1});
}

TEST_CASE("Model strings round-trip through their text form", "[model]") {
  const std::string text = "conv:32x3 relu conv:8x5:s2:same maxpool:3:s2 dropout:0.25 flatten dense:10";
  std::string back;
  for (const LayerSpec& l : parse_layers(text)) back += (back.empty() ? "" : " ") + l.str();
  CHECK(back == text);
}

TEST_CASE("Bad models: unknown layers and impossible shapes are named", "[model][bad-input]") {
  const Shape mnist{1, 28, 28};
  CHECK_THROWS_WITH(make_model("conv:32x3 relu pool:2", &mnist), Catch::Contains("unknown layer 'pool:2'"));
  CHECK_THROWS_WITH(make_model("conv:32x", &mnist), Catch::Contains("needs FILTERSxKERNEL"));
  CHECK_THROWS_WITH(make_model("conv:32xk", &mnist), Catch::Contains("bad number"));
  CHECK_THROWS_WITH(make_model("dropout:1.5", &mnist), Catch::Contains("[0, 1)"));
  CHECK_THROWS_WITH(make_model("conv:8x29", &mnist),
                    Catch::Contains("layer 1 'conv:8x29'") && Catch::Contains("kernel larger than its input"));
  CHECK_THROWS_WITH(make_model("conv:8x3 dense:10", &mnist), Catch::Contains("add flatten"));
  CHECK_THROWS_WITH(make_model("maxpool:2 maxpool:2 maxpool:2 maxpool:2 maxpool:2", &mnist),
                    Catch::Contains("layer 5") && Catch::Contains("kernel larger"));
  CHECK_THROWS_WITH(make_model("vgg-16"), Catch::Contains("unknown preset 'vgg-16'"));
  CHECK_THROWS_WITH(make_model("mlp:800-0"), Catch::Contains("bad number"));
  CHECK_THROWS_WITH(parse_shape("1x28"), Catch::Contains("CxHxW"));
}

TEST_CASE("Summary table: Keras-like rows and the total", "[model]") {
  const std::string table = summary_table(make_model("keras-cnn"));
  CHECK_THAT(table, Catch::Contains("Total params: 1,199,882"));
  CHECK_THAT(table, Catch::Contains("(64, 12, 12)"));
  CHECK_THAT(table, Catch::Contains("1,179,776"));  // dense 9216 -> 128
}
