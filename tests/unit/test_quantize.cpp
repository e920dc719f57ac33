// The inference engine (src/quant/): the folded FP32 graph gives the model's
// own evaluation (batch norm folded, padding folded, activations fused, the
// NHWC dense permutation), int8 stays close to it, and the file round-trips.
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>

#include "backend.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/fusion.hpp"
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

TEST_CASE("Folded FP32 graph equals the model's evaluation and int8 tracks it", "[quant][int8]") {
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

// ---- hostile inference files (issue 26 items 7 and 8) ------------------------------
//
// A real quantize output of a small model, then one field at a time edited
// with the HDF5 C API as an attacker would (h5py does the same): each edit
// must be refused on load with a message naming the op and the field. Before
// the loader checked them, these were accepted (version 99, "int4", NaN
// scales), truncated by a cast (2^62 became 0), or crashed the engine
// (tensors[-1], a pad past the end of its tensor, a 1000-wide max pool).
namespace {
namespace fs = std::filesystem;

// Input 1x8x8: after the max pool, 4x4x4 holds the same 64 values as the
// input, so an op can be pointed at a tensor of the same element count.
// Ops: 0 conv+relu, 1 conv, 2 add, 3 maxpool, 4 pad, 5 affine, 6 relu6, 7 dense.
const char* const kHostileModel =
    "conv:4x3:same relu@a conv:4x3:same add:a maxpool:2 zeropad:1:1:1:1 bn relu6 flatten dense:5";

/// The small model folded, then quantised to int8 unless `keep_fp32`, saved as quantize saves it.
fs::path write_small_graph(const std::string& tag, bool keep_fp32 = false) {
  const Shape in{1, 8, 8};
  const ModelSpec spec = make_model(kHostileModel, &in);
  int64_t count = 0;
  for (const ResolvedLayer& l : spec.layers) count += l.params();
  std::vector<float> params(static_cast<size_t>(count));
  Rng rng(11);
  for (float& p : params) p = static_cast<float>(0.1 + 0.9 * rng.uniform());  // batch-norm variances stay > 0
  quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, params);
  quant::Calibration cal;
  {
    quant::Engine fp32(g, 1);
    fp32.observe(&cal);
    fp32.evaluate(random_batch(spec, 4, LossKind::kSoftmaxCrossEntropy, 5));
  }
  if (!keep_fp32) quant::quantize(g, cal);
  const fs::path path = fs::temp_directory_path() / ("hpcnn-hostile-" + tag + "-" + std::to_string(getpid()) + ".h5");
  quant::save_graph(path, g);
  return path;
}

struct H5Edit {
  hid_t file;
  explicit H5Edit(const fs::path& path) : file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) { REQUIRE(file >= 0); }
  ~H5Edit() { H5Fclose(file); }
  H5Edit(const H5Edit&) = delete;
  H5Edit& operator=(const H5Edit&) = delete;

  void set_int(const std::string& object, const std::string& name, int64_t v) const {
    const hid_t o = H5Oopen(file, object.c_str(), H5P_DEFAULT);
    REQUIRE(o >= 0);
    H5Adelete(o, name.c_str());
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(o, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Oclose(o);
  }
  void set_string(const std::string& object, const std::string& name, const std::string& v) const {
    const hid_t o = H5Oopen(file, object.c_str(), H5P_DEFAULT);
    REQUIRE(o >= 0);
    H5Adelete(o, name.c_str());
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, v.size());
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(o, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Awrite(a, type, v.data()) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    H5Oclose(o);
  }
  /// Sets element 0 of a float32 dataset.
  void set_first_float(const std::string& name, float v) const {
    const hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    REQUIRE(d >= 0);
    const hid_t space = H5Dget_space(d);
    std::vector<float> values(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
    REQUIRE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
    values.at(0) = v;
    REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
    H5Sclose(space);
    H5Dclose(d);
  }
};

struct Hostile {
  std::string what;
  std::function<void(const H5Edit&)> edit;
  std::vector<std::string> message;  // all in the refusal
};
}  // namespace

TEST_CASE("Inference files: crafted fields are refused on load naming the op and the field", "[quant][bad-input]") {
  const fs::path good = write_small_graph("good");
  {
    const quant::Graph g = quant::load_graph(good);  // the unedited file loads
    REQUIRE(g.ops.size() == 8);
    CHECK(g.ops[2].kind == quant::OpKind::kAdd);
    CHECK(g.ops[3].kind == quant::OpKind::kMaxPool);
    CHECK(g.ops[4].kind == quant::OpKind::kPad);
    CHECK(g.ops[3].out == Shape{4, 4, 4});
  }
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const int64_t big = int64_t{1} << 62;
  const std::vector<Hostile> cases{
      {"version 99", [](const H5Edit& e) { e.set_int("/", "version", 99); }, {"'version' is 99"}},
      {"precision int4", [](const H5Edit& e) { e.set_string("/", "precision", "int4"); }, {"'precision' is 'int4'"}},
      {"precision fp32 on int8 data",
       [](const H5Edit& e) { e.set_string("/", "precision", "fp32"); },
       {"op 0 (conv)", "precision is fp32"}},
      {"num_tensors 2^62",
       [=](const H5Edit& e) { e.set_int("/", "num_tensors", big); },
       {"'num_tensors' is 4611686018427387904"}},
      {"src 2^62",
       [=](const H5Edit& e) { e.set_int("ops/001", "src", big); },
       {"op 1 (conv)", "'src' is 4611686018427387904"}},
      {"src 2^32 + 1 (a 32-bit cast makes it 1)",
       [](const H5Edit& e) { e.set_int("ops/001", "src", (int64_t{1} << 32) + 1); },
       {"op 1 (conv)", "'src' is 4294967297"}},
      {"src a later tensor",
       [](const H5Edit& e) { e.set_int("ops/001", "src", 5); },
       {"op 1 (conv)", "'src' is tensor 5, which no earlier op writes"}},
      {"add src2 -1", [](const H5Edit& e) { e.set_int("ops/002", "src2", -1); }, {"op 2 (add)", "'src2' is -1"}},
      {"dst written twice",
       [](const H5Edit& e) { e.set_int("ops/002", "dst", 2); },
       {"op 2 (add)", "'dst' is tensor 2"}},
      {"a source of the same element count (the 1x8x8 input for the 4x4x4 pool output)",
       [](const H5Edit& e) { e.set_int("ops/004", "src", 0); },
       {"op 4 (pad)", "'in' is 4x4x4 but tensor 0 ('src') is 1x8x8"}},
      {"a source of the same shape (relu6 reading the pad's output, not the affine's)",
       [](const H5Edit& e) { e.set_int("ops/006", "src", 5); },
       {"op 6 (relu6)", "'src' is 5 but the model ('model_text') folds to 6"}},
      {"a model_text that does not fold to these ops",
       [](const H5Edit& e) { e.set_string("/", "model_text", "conv:4x3:same relu flatten dense:5"); },
       {"holds 8 ops on 9 tensors (output 8) but the model ('model_text') folds to 2 ops"}},
      {"pad larger than the tensor",
       [](const H5Edit& e) { e.set_int("ops/004", "pad_top", 100); },
       {"op 4 (pad)", "'out' is 4x6x6", "gives 4x105x6"}},
      {"pad -1e5",
       [](const H5Edit& e) { e.set_int("ops/004", "pad_left", -100000); },
       {"op 4 (pad)", "'pad_left' is -100000"}},
      {"pad +1e5 with a matching out",
       [](const H5Edit& e) {
         e.set_int("ops/004", "pad_right", 100000);
         e.set_string("ops/004", "out", "4x6x100005");
       },
       {"op 5 (affine)", "'in' is 4x6x6 but tensor 5 ('src') is 4x6x100005"}},
      {"pad on a max pool",
       [](const H5Edit& e) { e.set_int("ops/003", "pad_top", 1); },
       {"op 3 (maxpool)", "'pad_top' is 1 (expected 0 to 0)"}},
      {"max-pool kernel 1000",
       [](const H5Edit& e) { e.set_int("ops/003", "kernel", 1000); },
       {"op 3 (maxpool)", "'kernel' 1000 is larger than the input 8x8"}},
      {"max-pool stride 3 (out recomputed)",
       [](const H5Edit& e) { e.set_int("ops/003", "stride", 3); },
       {"op 3 (maxpool)", "'out' is 4x4x4", "gives 4x3x3"}},
      {"conv out that the geometry does not give",
       [](const H5Edit& e) { e.set_string("ops/001", "out", "4x8x7"); },
       {"op 1 (conv)", "'out' is 4x8x7"}},
      {"conv groups 3",
       [](const H5Edit& e) { e.set_int("ops/001", "groups", 3); },
       {"op 1 (conv)", "'groups' 3 does not divide"}},
      {"weight scale -1",
       [](const H5Edit& e) { e.set_first_float("ops/000/weight_scales", -1.0f); },
       {"op 0 (conv)", "'weight_scales'[0] is -1"}},
      {"weight scale 0",
       [](const H5Edit& e) { e.set_first_float("ops/001/weight_scales", 0.0f); },
       {"op 1 (conv)", "'weight_scales'[0] is 0"}},
      {"weight scale NaN",
       [=](const H5Edit& e) { e.set_first_float("ops/007/weight_scales", static_cast<float>(nan)); },
       {"op 7 (dense)", "'weight_scales'[0] is nan"}},
      {"weight scale infinite",
       [=](const H5Edit& e) { e.set_first_float("ops/000/weight_scales", static_cast<float>(inf)); },
       {"op 0 (conv)", "'weight_scales'[0] is inf"}},
      {"bias NaN",
       [=](const H5Edit& e) { e.set_first_float("ops/007/bias", static_cast<float>(nan)); },
       {"op 7 (dense)", "'bias'[0] is nan"}},
      {"affine shift infinite",
       [=](const H5Edit& e) { e.set_first_float("ops/005/bias", static_cast<float>(-inf)); },
       {"op 5 (affine)", "'bias'[0] is -inf"}},
      {"input scale 0",
       [](const H5Edit& e) { e.set_string("ops/000", "input_scale", "0"); },
       {"op 0 (conv)", "'input_scale' is '0'"}},
      {"input scale nan",
       [](const H5Edit& e) { e.set_string("ops/007", "input_scale", "nan"); },
       {"op 7 (dense)", "'input_scale' is 'nan'"}},
      {"activation on a max pool",
       [](const H5Edit& e) { e.set_string("ops/003", "activation", "relu"); },
       {"op 3 (maxpool)", "'activation' is 'relu'"}},
      {"unknown op kind",
       [](const H5Edit& e) { e.set_string("ops/006", "kind", "softmax"); },
       {"op 6: 'kind' is 'softmax'"}},
      {"output past the tensors", [](const H5Edit& e) { e.set_int("/", "output", 9); }, {"'output' is 9"}},
      {"class names that do not match the outputs",
       [](const H5Edit& e) { e.set_string("/", "class_names", "[\"a\",\"b\"]"); },
       {"'class_names' has 2 names for a model with 5 outputs"}},
      {"weight_bytes that the weights do not take",
       [](const H5Edit& e) { e.set_int("/", "weight_bytes", 1); },
       {"'weight_bytes' is 1"}},
  };
  // The other way round: an fp32 file's float weights under "int8".
  const fs::path fp32 = write_small_graph("fp32", /*fp32=*/true);
  CHECK_FALSE(quant::load_graph(fp32).int8);
  {
    const H5Edit e(fp32);
    e.set_string("/", "precision", "int8");
  }
  CHECK_THROWS_WITH(quant::load_graph(fp32),
                    Catch::Contains("op 0 (conv): 'weights' is stored as float32 (expected int8)"));
  fs::remove(fp32);
  for (const Hostile& h : cases) {
    INFO(h.what);
    const fs::path bad = fs::temp_directory_path() / ("hpcnn-hostile-bad-" + std::to_string(getpid()) + ".h5");
    fs::copy_file(good, bad, fs::copy_options::overwrite_existing);
    {
      const H5Edit e(bad);
      h.edit(e);
    }
    std::string message;
    try {
      quant::load_graph(bad);
    } catch (const hpcnn::Error& err) {
      message = err.message();
    }
    INFO(message);
    CHECK(message.rfind(bad.string() + ": ", 0) == 0);  // names the file first
    CHECK(message.find('\n') == std::string::npos);     // one line
    for (const std::string& part : h.message) CHECK_THAT(message, Catch::Contains(part));
    fs::remove(bad);
  }
  fs::remove(good);
}

TEST_CASE("Folded graph: batch norm and activations after a flatten keep the model's feature order", "[quant]") {
  // The engine stores a flattened map as (H, W, C); batch norm's parameters
  // are per feature in the model's (C, H, W) order, and a dense layer after
  // an element-wise op still reads the map.
  auto backend = kernels::make_onednn_backend(1);
  const Shape in{2, 6, 6};
  for (const char* text : {"conv:4x3 relu flatten bn dense:5", "conv:4x3 flatten relu dense:5",
                           "conv:4x3 flatten bn relu6 dropout:0.1 dense:5"}) {
    INFO(text);
    const ModelSpec spec = make_model(text, &in);
    Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 11);
    m.set_params_host(perturbed_params(m, 4));
    const data::Batch batch = random_batch(spec, 6, LossKind::kSoftmaxCrossEntropy, 9);
    std::vector<float> want, got, got_back;
    m.evaluate(batch, &want);
    const quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
    quant::Engine e(g, 1);
    e.evaluate(batch, &got);
    double scale = 0;
    CHECK(max_abs_diff(got, want, &scale) <= 1e-4 * std::max(1.0, scale));
    // The inference file takes it back (its ops are checked against the fold of its model text).
    const auto path = std::filesystem::temp_directory_path() / ("hpcnn-flat-" + std::to_string(getpid()) + ".h5");
    quant::save_graph(path, g);
    const quant::Graph back = quant::load_graph(path);
    std::filesystem::remove(path);
    quant::Engine again(back, 1);
    again.evaluate(batch, &got_back);
    CHECK(got_back == got);
  }
}

namespace {
/// Ops of `e` that report the fused add (and, with `int8_out`, write int8).
long fused_adds(const quant::Engine& e, bool int8_out = false) {
  const std::vector<std::string> impl = e.implementations();
  const std::string want = int8_out ? "sum post-op) -> int8" : "sum post-op";
  return std::count_if(impl.begin(), impl.end(),
                       [&](const std::string& s) { return s.find(want) != std::string::npos; });
}

/// `graph` run on `batch` with the adds fused or (HPCNN_INFER_FUSE=0) on the
/// host; `calibration` observed when given. Returns the fused-add count.
long run_engine(const quant::Graph& graph, const data::Batch& batch, bool fuse, std::vector<float>* logits,
                quant::Calibration* calibration = nullptr, bool int8_out = false) {
  if (!fuse) setenv("HPCNN_INFER_FUSE", "0", 1);
  quant::Engine e(graph, 2);
  unsetenv("HPCNN_INFER_FUSE");
  e.observe(calibration);
  e.evaluate(batch, logits);
  return fused_adds(e, int8_out);
}
}  // namespace

TEST_CASE("Inference engine: MobileNetV2's residual adds run as sum post-ops and give the unfused logits",
          "[quant][int8][fused]") {
  // The real network (10 residual adds, chained ones among them: b5 adds to
  // b4's output, which b4's own add wrote in place) at 32x32 to stay quick.
  // Batch norm with momentum 0: one training step sets its statistics to a
  // batch's, so activations keep their scale through the 50-odd layers
  // (with the initial statistics the logits were 1e-11).
  auto backend = kernels::make_onednn_backend(2);
  const Shape in{3, 32, 32};
  const ModelSpec spec = make_model("mobilenetv2:0.35:3:m0", &in);
  Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
  m.train_step(random_batch(spec, 64, LossKind::kSoftmaxCrossEntropy, 6), 1.0f / 64, 0);
  const data::Batch batch = random_batch(spec, 6, LossKind::kSoftmaxCrossEntropy, 5);
  std::vector<float> want;
  m.evaluate(batch, &want);

  const quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
  const auto adds =
      std::count_if(g.ops.begin(), g.ops.end(), [](const quant::Op& op) { return op.kind == quant::OpKind::kAdd; });
  CHECK(adds == 10);
  std::vector<float> got, host, got8, host8;
  quant::Calibration cal;
  CHECK(run_engine(g, batch, true, &got, &cal) == adds);
  CHECK(run_engine(g, batch, false, &host) == 0);
  double scale = 0;
  // Folded, 52 convolutions deep, the engine differs from the training
  // backend's evaluation by rounding: 2.3e-4 of the logits' range measured
  // (AVX-512), with or without the fused adds.
  CHECK(max_abs_diff(got, want, &scale) <= 1e-3 * std::max(1.0, scale));
  CHECK(max_abs_diff(got, host, &scale) <= 1e-5 * std::max(1.0, scale));

  // int8: the fused adds keep the residual stream in int8 (the skip and the
  // sum each rounded to the scale their int8 readers use). On random
  // weights int8 is far from FP32 here either way (0.80 of the logits'
  // range unfused, 0.73 fused, measured): the fused engine must be no worse
  // than the unfused one's own error by more than a quarter.
  quant::Graph g8 = g;
  quant::quantize(g8, cal);
  CHECK(run_engine(g8, batch, true, &got8, nullptr, true) == adds);
  run_engine(g8, batch, false, &host8);
  double range = 0;
  const double fused_error = max_abs_diff(got8, got, &range), host_error = max_abs_diff(host8, got, &range);
  CHECK(fused_error <= 1.25 * host_error);
}

TEST_CASE("Inference engine: int8 runs through chained residual adds within the quantisation error",
          "[quant][int8][fused]") {
  // Two residual blocks, the second adding to the first's sum (in place in
  // one buffer), with batch norm folded: the int8 engine's fused adds read
  // and write int8 (sum post-op with the skip rescaled to the sum's scale).
  // A conv reads the last sum: a host op there (the pool) would need it in
  // FP32, and a chain of adds shares one buffer, so all of it would be FP32.
  auto backend = kernels::make_onednn_backend(2);
  const Shape in{3, 20, 20};
  const std::string block = "conv:32x1:nobias bn relu6 dwconv:3:same:nobias bn relu6 conv:8x1:nobias bn ";
  const ModelSpec spec = make_model("conv:16x3:s2:same:nobias bn relu6 conv:8x1:nobias bn@s " + block + "add:s@t " +
                                        block + "add:t conv:16x1 relu6 gap dense:10",
                                    &in);
  Model m(spec, LossKind::kSoftmaxCrossEntropy, *backend, 7);
  m.set_params_host(perturbed_params(m, 3));
  const data::Batch batch = random_batch(spec, 24, LossKind::kSoftmaxCrossEntropy, 5);
  std::vector<float> want, got, got8;
  m.evaluate(batch, &want);
  const quant::Graph g = quant::fold(spec, LossKind::kSoftmaxCrossEntropy, m.params_host());
  quant::Calibration cal;
  CHECK(run_engine(g, batch, true, &got, &cal) == 2);
  double scale = 0;
  CHECK(max_abs_diff(got, want, &scale) <= 1e-4 * std::max(1.0, scale));
  quant::Graph g8 = g;
  quant::quantize(g8, cal);
  CHECK(run_engine(g8, batch, true, &got8, nullptr, true) == 2);
  // As the first test's int8 bound: within a few percent of the FP32 range, most predictions agree.
  CHECK(max_abs_diff(got8, got, &scale) <= 0.08 * scale);
  const int64_t k = static_cast<int64_t>(got.size()) / batch.count;
  int agree = 0;
  for (int64_t a = 0; a < batch.count; ++a) {
    const auto* x = got.data() + a * k;
    const auto* y = got8.data() + a * k;
    agree += std::max_element(x, x + k) - x == std::max_element(y, y + k) - y;
  }
  CHECK(agree >= 20);
}

TEST_CASE("Fusion rules: the trainer and the folder read one table and never fuse across a tensor an add reads",
          "[quant][fusion]") {
  const Shape in{3, 20, 20};
  // Layers: 0 conv, 1 relu, 2 maxpool, 3 conv@a, 4 bn, 5 add:a, 6 relu6, 7 zeropad, 8 conv, 9 bn, 10 relu6, 11 gap, 12
  // dense, 13 relu
  const ModelSpec spec = make_model(
      "conv:8x3 relu maxpool:2 conv:8x3:same@a bn add:a relu6 zeropad:1:1:1:1 conv:8x3 bn relu6 gap dense:4 relu", &in);
  const std::vector<bool> read = add_inputs(spec);
  REQUIRE(read.size() == spec.layers.size() + 1);
  CHECK(read[4]);  // conv@a's output: the bn's input, read by the add
  using F = Fuser;
  CHECK(may_fuse(F::kTraining, LayerKind::kConv, spec, read, 1));  // conv + relu: both
  CHECK(may_fuse(F::kInference, LayerKind::kConv, spec, read, 1));
  CHECK(may_fuse(F::kTraining, LayerKind::kRelu, spec, read, 2));  // relu into the pool: training only
  CHECK(!may_fuse(F::kInference, LayerKind::kRelu, spec, read, 2));
  CHECK(!may_fuse(F::kInference, LayerKind::kConv, spec, read, 4));  // the add reads the conv's output
  CHECK(!may_fuse(F::kInference, LayerKind::kAdd, spec, read, 6));   // relu6 after the add: no rule
  CHECK(may_fuse(F::kInference, LayerKind::kZeroPad, spec, read, 8));
  CHECK(may_fuse(F::kInference, LayerKind::kConv, spec, read, 9));   // bn folded
  CHECK(!may_fuse(F::kTraining, LayerKind::kConv, spec, read, 9));   // the trainer keeps batch norm
  CHECK(may_fuse(F::kInference, LayerKind::kConv, spec, read, 10));  // relu6 after the folded bn
  CHECK(may_fuse(F::kInference, LayerKind::kDense, spec, read, 13));
  CHECK(!may_fuse(F::kInference, LayerKind::kDense, spec, read, 14));  // past the last layer
  // fold() follows the table: conv+relu, pool, conv (bn and the add apart), add, relu6, pad+conv+bn+relu6, gap,
  // dense+relu.
  const quant::Graph g = quant::fold_structure(spec, LossKind::kSoftmaxCrossEntropy);
  std::vector<quant::OpKind> kinds;
  for (const quant::Op& op : g.ops) kinds.push_back(op.kind);
  using K = quant::OpKind;
  CHECK(kinds == std::vector<K>{K::kConv, K::kMaxPool, K::kConv, K::kAffine, K::kAdd, K::kRelu6, K::kConv,
                                K::kGlobalAvgPool, K::kDense});
}
