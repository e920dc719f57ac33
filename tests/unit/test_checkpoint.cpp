// Checkpoints: save -> load -> identical predictions and optimizer state.
#include <catch2/catch.hpp>

#include "backend.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
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
