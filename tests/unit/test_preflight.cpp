// Pre-flight checks (train/preflight.hpp): what the run refuses before it
// claims the run directory or starts a collective.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/synth/generate.hpp"
#include "test_helpers.hpp"
#include "train/preflight.hpp"

using namespace hpcnn;
using namespace hpcnn::train;

namespace {
/// A circuits dataset of `train` samples in `dir`, circuit-cnn (15 layers,
/// the last two dense) on it, and a run of it into dir/run at batch 2.
struct Setup {
  data::Manifest manifest;
  model::ModelSpec spec;
  TrainConfig c;
};
Setup make_setup(const test::ScratchDir& dir, int64_t train) {
  data::synth::SynthConfig synth;
  synth.out = dir / "circuits";
  synth.train = train;
  synth.test = 0;
  Setup s;
  s.manifest = data::synth::generate(synth, Logger(LogLevel::kQuiet));
  const model::Shape input{s.manifest.sample_shape[0], s.manifest.sample_shape[1], s.manifest.sample_shape[2]};
  s.spec = model::make_model("circuit-cnn", &input);
  s.c.data_dir = synth.out;
  s.c.model = "circuit-cnn";
  s.c.run_dir = dir / "run";
  s.c.batch = 2;
  return s;
}
}  // namespace

TEST_CASE("Pre-flight: a validation split that leaves no training samples is refused before the run directory exists",
          "[preflight]") {
  test::ScratchDir dir("preflight");
  Setup s = make_setup(dir, 3);
  const data::Manifest& manifest = s.manifest;
  const model::ModelSpec& spec = s.spec;
  TrainConfig& c = s.c;
  CHECK_NOTHROW(preflight_checks(c, manifest, spec, model::LossKind::kSoftmaxCrossEntropy, 1));
  CHECK(train_split(c, manifest).train == 3);
  c.validation_split = 0.9;
  CHECK(train_split(c, manifest).holdout == 3);
  CHECK_THROWS_WITH(preflight_checks(c, manifest, spec, model::LossKind::kSoftmaxCrossEntropy, 1),
                    Catch::Contains("--validation-split 0.9 leaves no training samples"));
  c.validation_split = 0.0;
  CHECK_THROWS_WITH(preflight_checks(c, manifest, spec, model::LossKind::kSoftmaxCrossEntropy, 4),
                    Catch::Contains("cannot train on 4 ranks: the dataset has only 3 training samples"));
  c.allreduce = comm::AllreduceAlgo::kNccl;
  CHECK_THROWS_AS(preflight_checks(c, manifest, spec, model::LossKind::kSoftmaxCrossEntropy, 1), UsageError);
  c.allreduce = comm::AllreduceAlgo::kAuto;
  CHECK_THROWS_WITH(preflight_checks(c, manifest, spec, model::LossKind::kMeanSquaredError, 1),
                    Catch::Contains("is a regression model"));
  // Nothing was written.
  CHECK(!std::filesystem::exists(c.run_dir));
}

TEST_CASE("Pre-flight: a --freeze that names no layer or freezes every parameter is refused before the model is built",
          "[preflight]") {
  test::ScratchDir dir("preflight-freeze");
  Setup s = make_setup(dir, 4);
  TrainConfig& c = s.c;
  const auto check = [&] { preflight_checks(c, s.manifest, s.spec, model::LossKind::kSoftmaxCrossEntropy, 1); };
  c.freeze = "12";  // leaves dense:4 to train
  CHECK_NOTHROW(check());
  c.freeze = "nope";
  CHECK_THROWS_WITH(check(), Catch::Contains("model 'circuit-cnn': no layer 'nope'"));
  c.freeze = "15";
  CHECK_THROWS_WITH(check(), Catch::Contains("--freeze 15 freezes every parameter of model 'circuit-cnn'"));
  CHECK(!std::filesystem::exists(c.run_dir));
}
