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

// The numbers below were printed by Keras 3.15.1 (TensorFlow 2.21, PyPI) with
// tools/bench/peers/keras_mobilenetv2_counts.py: every layer of
// keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3),
// include_top=False, weights=None) that has parameters or is an Add or a
// ZeroPadding2D, in order, then the Edge Impulse seed's head (Dense 8 on
// each of the 3 x 3 positions, Dropout 0.1, Flatten, Dense 3).
TEST_CASE("mobilenetv2:0.35 matches Keras's MobileNetV2 layer by layer", "[model]") {
  const std::vector<int64_t> keras{
      432, 64,   144,   64,   128,   32,   384,   192,  0,      432,  192,   384, 32,   384,   192,  432,  192,  384,
      32,  0,    384,   192,  0,     432,  192,   768,  64,     1536, 384,   864, 384,  1536,  64,   0,    1536, 384,
      864, 384,  1536,  64,   0,     1536, 384,   0,    864,    384,  2304,  96,  3456, 576,   1296, 576,  3456, 96,
      0,   3456, 576,   1296, 576,   3456, 96,    0,    3456,   576,  1296,  576, 3456, 96,    0,    3456, 576,  1296,
      576, 4608, 128,   6144, 768,   1728, 768,   6144, 128,    0,    6144,  768, 1728, 768,   6144, 128,  0,    6144,
      768, 0,    1728,  768,  10752, 224,  18816, 1344, 3024,   1344, 18816, 224, 0,    18816, 1344, 3024, 1344, 18816,
      224, 0,    18816, 1344, 3024,  1344, 37632, 448,  143360, 5120, 10248, 219};
  const ModelSpec m = make_model("mobilenetv2:0.35");
  CHECK(m.input == Shape{3, 96, 96});
  std::vector<int64_t> ours;
  for (const ResolvedLayer& l : m.layers)
    if (l.params() > 0 || l.spec.kind == LayerKind::kAdd || l.spec.kind == LayerKind::kZeroPad)
      ours.push_back(l.params());
  CHECK(ours == keras);
  CHECK(m.total_params() == 420675);      // Keras: backbone 410,208 + head 10,467
  CHECK(m.trainable_params() == 406595);  // Keras: backbone 396,128 trainable + head
  CHECK(m.total_params() - m.trainable_params() == 14080);
  CHECK(m.layers[m.layer_index("backbone")].output == Shape{1280, 3, 3});
  CHECK(m.output() == Shape{3, 1, 1});
  CHECK(make_model("mobilenetv2:0.35:10").output() == Shape{10, 1, 1});
  // Another batch-norm momentum changes no count.
  const ModelSpec m99 = make_model("mobilenetv2:0.35:3:m0.99");
  CHECK(m99.total_params() == 420675);
  CHECK(m99.layers[1].spec.momentum == 0.99);
  CHECK(m.layers[1].spec.momentum == 0.999);
  // Keras's counts for alpha 1.0: 2,257,984 in the backbone.
  const ModelSpec full = make_model("mobilenetv2:1.0");
  CHECK(full.total_params() - full.layers.back().params() - full.layers[full.layers.size() - 5].params() == 2257984);
}

TEST_CASE("DAG model strings: named outputs, adds, new layers round-trip", "[model]") {
  const std::string text =
      "conv:16x3:s2:same:nobias bn:m0.999 relu6@stem dwconv:3:same:nobias bn:e0.01 conv:16x1:g4 add:stem@b1 "
      "zeropad:0:1:0:1 dwconv:3:s2 zeropad:1 gap dense:3";
  std::string back;
  for (const LayerSpec& l : parse_layers(text)) back += (back.empty() ? "" : " ") + l.str();
  CHECK(back == text);
  const Shape in{3, 16, 16};
  const ModelSpec m = make_model(text, &in);
  CHECK(m.layers[3].output == Shape{16, 8, 8});  // depthwise keeps the channels
  CHECK(m.layers[3].weights == 16 * 9);
  CHECK(m.layers[3].bias == 0);
  CHECK(m.layers[4].weights == 16);  // gamma, beta, then mean and variance
  CHECK(m.layers[4].bias == 16);
  CHECK(m.layers[4].state == 32);
  CHECK(m.layers[5].weights == 16 * 4 * 1 * 1);  // 4 groups of 4 input channels
  CHECK(m.layers[6].add_source == 3);            // the output of layer 3 (relu6@stem)
  CHECK(m.layers[7].output == Shape{16, 9, 9});
  CHECK(m.layers[8].output == Shape{16, 4, 4});
  CHECK(m.layers[9].output == Shape{16, 6, 6});
  CHECK(m.layers[10].output == Shape{16, 1, 1});
  CHECK(m.layer_index("b1") == 6);
  CHECK(m.layer_index("3") == 2);
  CHECK_THROWS_WITH(m.layer_index("nope"), Catch::Contains("no layer 'nope'"));
  const std::string table = summary_table(m);
  CHECK_THAT(table, Catch::Contains("Non-trainable params: 64"));
}

TEST_CASE("Bad DAG models: unknown names, mismatched adds, bad options", "[model][bad-input]") {
  const Shape in{3, 16, 16};
  CHECK_THROWS_WITH(make_model("conv:4x3 add:x", &in), Catch::Contains("no earlier output is named 'x'"));
  CHECK_THROWS_WITH(make_model("conv:4x3@x conv:8x3 add:x", &in),
                    Catch::Contains("adds 'x' of shape (4, 14, 14)") && Catch::Contains("(8, 12, 12)"));
  CHECK_THROWS_WITH(make_model("conv:4x3@x conv:4x1@x", &in), Catch::Contains("'x' is already taken"));
  CHECK_THROWS_WITH(make_model("conv:4x3@input", &in), Catch::Contains("bad output name 'input'"));
  CHECK_THROWS_WITH(make_model("conv:4x3:g2", &in), Catch::Contains("2 groups must divide the input channels (3)"));
  CHECK_THROWS_WITH(make_model("bn:x", &in), Catch::Contains("unknown option 'x'"));
  CHECK_THROWS_WITH(make_model("bn:m2", &in), Catch::Contains("momentum"));
  CHECK_THROWS_WITH(make_model("zeropad:1:2", &in), Catch::Contains("one padding or four"));
  CHECK_THROWS_WITH(make_model("maxpool:2:nobias", &in), Catch::Contains("unknown option 'nobias'"));
  CHECK_THROWS_WITH(make_model("mobilenetv2:0"), Catch::Contains("width multiplier"));
  CHECK_THROWS_WITH(make_model("mobilenetv2:0.35:3:1"), Catch::Contains("mobilenetv2:ALPHA[:CLASSES][:mMOMENTUM]"));
  CHECK_THROWS_WITH(make_model("mobilenetv2:0.35:3:m1.5"), Catch::Contains("batch-norm momentum"));
  const Shape rect{3, 96, 64};
  CHECK_THROWS_WITH(make_model("mobilenetv2:0.35", &rect), Catch::Contains("square"));
}
