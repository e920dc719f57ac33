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
  CHECK_THROWS_WITH(train::restore_model(c, *backend), Catch::Contains("347146 parameters") &&
                                                           Catch::Contains("1199882"));
  std::filesystem::resize_file(dir / "m.h5", 100);
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "m.h5"), Catch::Contains("m.h5"));
  CHECK_THROWS_WITH(train::load_checkpoint(dir / "none.h5"), Catch::Contains("no such file"));
}
