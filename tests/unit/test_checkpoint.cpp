// Checkpoints: save -> load -> identical predictions and optimizer state.
#include <hdf5.h>

#include <fstream>
#include <limits>

#include <catch2/catch.hpp>

#include "backend.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"
#include "test_helpers.hpp"
#include "train/checkpoint.hpp"

using namespace hpcnn;
using namespace hpcnn::model;

TEST_CASE("Checkpoint: save, load, identical predictions and optimizer state", "[checkpoint]") {
  test::ScratchDir dir("ckpt");
  auto backend = kernels::make_onednn_backend(1);
  Model net(make_model("tiny-cnn"), LossKind::kSoftmaxCrossEntropy, *backend, 11);
  Optimizer opt({}, *backend, net.num_params());
  data::Batch b;
  b.count = 6;
  Rng rng(1);
  for (int i = 0; i < 6 * 784; ++i) b.samples.push_back(static_cast<float>(rng.uniform()));
  for (int i = 0; i < 6; ++i) {
    b.labels.push_back(i % 10);
    b.indices.push_back(i);
  }
  for (int s = 0; s < 3; ++s) {
    net.train_step(b, 1.0f / 6, 0);
    opt.step(net.params(), net.grads());
  }
  std::vector<float> before;
  net.evaluate(b, &before);
  train::save_checkpoint(dir / "m.h5", net, &opt, 4, 11);

  const train::Checkpoint c = train::load_checkpoint(dir / "m.h5");
  CHECK(c.model_name == "tiny-cnn");
  CHECK(c.epoch == 4);
  CHECK(c.seed == 11);
  CHECK(c.optimizer_steps == 3);
  CHECK(c.optimizer.lr == 0.001);
  CHECK(c.optimizer_a == opt.state_a());
  CHECK(c.optimizer_b == opt.state_b());
  auto ref = kernels::make_reference_backend();
  auto restored = train::restore_model(c, *backend);
  std::vector<float> after;
  restored->evaluate(b, &after);
  CHECK(after == before);  // bit for bit
  CHECK(restored->params_host() == net.params_host());

  // No temporary file left next to it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("Checkpoint: a damaged or mismatched checkpoint is refused", "[checkpoint][bad-input]") {
  test::ScratchDir dir("ckpt-bad");
  auto backend = kernels::make_reference_backend();
  Model net(make_model("mnist-cnn"), LossKind::kSoftmaxCrossEntropy, *backend, 1);
  train::save_checkpoint(dir / "m.h5", net, nullptr, 1, 1);
  train::Checkpoint c = train::load_checkpoint(dir / "m.h5");
  c.model_text = make_model("keras-cnn").text;  // same input, other model
  CHECK_THROWS_WITH(train::restore_model(c, *backend),
                    Catch::Contains("347146 parameters") && Catch::Contains("1199882"));
  std::filesystem::resize_file(dir / "m.h5", 100);
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "m.h5"), Catch::Contains("m.h5"));
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "none.h5"), Catch::Contains("no such file"));
}

TEST_CASE("Checkpoint: records the dataset's name, sample type and class names", "[checkpoint]") {
  test::ScratchDir dir("ckpt-dataset");
  auto backend = kernels::make_reference_backend();
  Model net(make_model("tiny-cnn"), LossKind::kSoftmaxCrossEntropy, *backend, 1);
  data::Manifest m;
  m.name = "fashion-mnist";
  m.sample_type = data::SampleType::kUInt8;
  m.class_names = {"T-shirt/top", "Trouser", "a \"quoted\" name", "",    "Coat",
                   "Sandal",      "Shirt",   "Sneaker",           "Bag", "Ankle boot"};
  train::save_checkpoint(dir / "with.h5", net, nullptr, 1, 1, &m);
  const train::Checkpoint with = train::load_checkpoint(dir / "with.h5");
  CHECK(with.dataset_name == "fashion-mnist");
  CHECK(with.sample_dtype == "uint8");
  CHECK(with.class_names == m.class_names);

  // Without a dataset (and in checkpoints from before): empty, not an error.
  train::save_checkpoint(dir / "without.h5", net, nullptr, 1, 1);
  const train::Checkpoint without = train::load_checkpoint(dir / "without.h5");
  CHECK(without.dataset_name.empty());
  CHECK(without.sample_dtype.empty());
  CHECK(without.class_names.empty());
}

namespace {
/// Rewrites dataset `name` of an HDF5 file in place through `edit` (float32
/// values), leaving its attributes, the recorded checksum included, as they were.
template <class Edit>
void edit_float_dataset(const std::filesystem::path& path, const char* name, Edit edit) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t space = H5Dget_space(d);
  std::vector<float> values(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  REQUIRE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  edit(values);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
}

/// A checkpoint of tiny-cnn with Adam state, as training writes it.
void save_tiny(const std::filesystem::path& path) {
  auto backend = kernels::make_reference_backend();
  Model net(make_model("tiny-cnn"), LossKind::kSoftmaxCrossEntropy, *backend, 3);
  Optimizer opt({}, *backend, net.num_params());
  train::save_checkpoint(path, net, &opt, 1, 3);
}
}  // namespace

TEST_CASE("Checkpoint: bytes changed inside params or a layer view fail the SHA-256 check", "[checkpoint][bad-input]") {
  // issue 26.4: 64 bytes flipped inside /params were resumed from without complaint.
  test::ScratchDir dir("ckpt-sha");
  save_tiny(dir / "m.h5");
  CHECK(train::load_checkpoint(dir / "m.h5").checksums_verified);
  std::filesystem::copy_file(dir / "m.h5", dir / "view.h5");
  edit_float_dataset(dir / "m.h5", "params", [](std::vector<float>& v) {
    for (size_t i = 100; i < 116; ++i) v[i] = -v[i] * 9e4f;  // 64 bytes
  });
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "m.h5"),
                    Catch::Contains("m.h5") && Catch::Contains("/params fails its SHA-256 check"));
  // A dataset the loader does not otherwise read is checked too.
  edit_float_dataset(dir / "view.h5", "layers/01_conv/weights", [](std::vector<float>& v) { v[0] += 1.0f; });
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "view.h5"),
                    Catch::Contains("/layers/01_conv/weights fails its SHA-256 check"));
}

TEST_CASE("Checkpoint: NaN or infinite parameters are refused on load", "[checkpoint][bad-input]") {
  // issue 26.4: a checkpoint with NaN parameters predicted "nan" classes with exit 0.
  test::ScratchDir dir("ckpt-nan");
  auto backend = kernels::make_reference_backend();
  Model net(make_model("tiny-cnn"), LossKind::kSoftmaxCrossEntropy, *backend, 3);
  std::vector<float> p = net.params_host();
  p[7] = std::numeric_limits<float>::quiet_NaN();
  p[9] = std::numeric_limits<float>::infinity();
  net.set_params_host(p);
  train::save_checkpoint(dir / "nan.h5", net, nullptr, 1, 3);  // checksums match: the values themselves are bad
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "nan.h5"),
                    Catch::Contains("/params holds 2 NaN or infinite value(s) (the first at index 7"));
}

TEST_CASE("Checkpoint: a version 1 file without checksums loads unverified but a version 2 file missing one is refused",
          "[checkpoint][bad-input]") {
  test::ScratchDir dir("ckpt-v1");
  save_tiny(dir / "v1.h5");
  std::filesystem::copy_file(dir / "v1.h5", dir / "stripped.h5");
  {
    const hid_t f = H5Fopen((dir / "v1.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    // As version 1 wrote it: no sha256 attribute anywhere.
    std::vector<std::string> names;
    const auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* out) -> herr_t {
      if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->emplace_back(name);
      return 0;
    };
    REQUIRE(H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &names, H5O_INFO_BASIC) >= 0);
    CHECK(names.size() >= 7);
    for (const std::string& name : names) CHECK(H5Adelete_by_name(f, name.c_str(), "sha256", H5P_DEFAULT) >= 0);
    const int64_t one = 1;
    const hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    REQUIRE(H5Awrite(a, H5T_NATIVE_INT64, &one) >= 0);
    H5Aclose(a);
    H5Fclose(f);
  }
  const train::Checkpoint old = train::load_checkpoint(dir / "v1.h5", /*warn_unverified=*/false);
  CHECK_FALSE(old.checksums_verified);
  CHECK(old.params.size() > 0);
  {
    const hid_t f = H5Fopen((dir / "stripped.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    H5Adelete_by_name(f, "params", "sha256", H5P_DEFAULT);
    H5Fclose(f);
  }
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "stripped.h5"), Catch::Contains("/params has no sha256 attribute"));
}

// Issue 30: a sharded run gathers the optimizer state collectively while
// rank 0 writes it, so the writer takes it chunk by chunk as it arrives (the
// file is byte for byte the one written from full vectors, whatever the
// chunks) and calls the stream exactly once also when the write fails before
// reaching it (a directory that cannot be created): otherwise the other ranks
// would wait in a gather.
TEST_CASE(
    "Checkpoint: a streamed optimizer state writes the same file in any chunks and is drained once when the write "
    "fails",
    "[checkpoint]") {
  test::ScratchDir dir("ckpt-stream");
  auto backend = kernels::make_onednn_backend(1);
  Model net(make_model("tiny-cnn"), LossKind::kSoftmaxCrossEntropy, *backend, 11);
  const auto n = static_cast<size_t>(net.num_params());
  std::vector<float> a(n), b(n);
  for (size_t i = 0; i < n; ++i) {
    a[i] = 0.25f * static_cast<float>(i % 7);
    b[i] = 1e-3f * static_cast<float>(i % 5);
  }
  const model::OptimizerConfig config;
  train::save_checkpoint(dir / "full.h5", net, train::OptimizerState{config, 3, a, b}, 1, 11);
  int calls = 0, vectors = 0;
  size_t chunk = n;  // floats per chunk
  const train::OptimizerStateStream stream{
      config, 3, [&](const train::OptimizerStateStream::Sink& sink) {
        ++calls;
        for (int k = 0; k < 2; ++k) {
          const std::vector<float>& full = k == 0 ? a : b;
          for (size_t at = 0; at < n; at += chunk) {
            // A copy let go after the call, as a gathered window is.
            const std::vector<float> piece(full.begin() + static_cast<std::ptrdiff_t>(at),
                                           full.begin() + static_cast<std::ptrdiff_t>(std::min(n, at + chunk)));
            sink(k, static_cast<int64_t>(at), piece);
          }
          ++vectors;
        }
      }};
  for (const size_t c : {n, size_t{1000}, size_t{7}}) {
    chunk = c;
    calls = vectors = 0;
    train::save_checkpoint(dir / "streamed.h5", net, stream, 1, 11);
    CHECK(calls == 1);
    CHECK(vectors == 2);
    CHECK(sha256_file(dir / "streamed.h5") == sha256_file(dir / "full.h5"));  // the same bytes
    const train::Checkpoint full = train::load_checkpoint(dir / "full.h5");
    const train::Checkpoint streamed = train::load_checkpoint(dir / "streamed.h5");
    CHECK(streamed.optimizer_a == full.optimizer_a);
    CHECK(streamed.optimizer_b == full.optimizer_b);
    CHECK(streamed.params == full.params);
  }

  // A regular file where the checkpoint's directory should be: the write fails
  // before the optimizer section, and the stream is still run once.
  { std::ofstream(dir / "blocker") << "x"; }
  calls = vectors = 0;
  CHECK_THROWS(train::save_checkpoint(dir / "blocker" / "sub" / "c.h5", net, stream, 1, 11));
  CHECK(calls == 1);
  CHECK(vectors == 2);
  // A state of the wrong length is refused by name, after the stream ran once.
  calls = 0;
  const train::OptimizerStateStream short_stream{config, 3, [&](const train::OptimizerStateStream::Sink& sink) {
                                                   ++calls;
                                                   sink(0, 0, std::vector<float>(n - 1));
                                                 }};
  CHECK_THROWS_WITH(train::save_checkpoint(dir / "short.h5", net, short_stream, 1, 11),
                    Catch::Contains("the optimizer holds"));
  CHECK(calls == 1);
  // Chunks out of order (a gap) are refused by name.
  const train::OptimizerStateStream gap_stream{config, 3, [&](const train::OptimizerStateStream::Sink& sink) {
                                                 sink(0, 0, std::span<const float>(a.data(), 10));
                                                 sink(0, 20, std::span<const float>(a.data() + 20, n - 20));
                                               }};
  CHECK_THROWS_WITH(train::save_checkpoint(dir / "gap.h5", net, gap_stream, 1, 11),
                    Catch::Contains("chunks must come in order"));
}
