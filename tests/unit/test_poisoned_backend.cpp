// The poisoned-device test backend (kernels/poisoned/) on a CPU-only
// machine: its device pointers kill a host that dereferences them, and the
// model, optimizer, evaluation and checkpoints run on it without doing so,
// bitwise as on the reference backend whose arithmetic it runs (the trainer
// end to end, 1 and 2 ranks: tests/integration/poisoned_train.sh; the staged
// reducer: tests/mpi).
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "backend.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "fixtures.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"
#include "train/checkpoint.hpp"

using namespace hpcnn;
using namespace hpcnn::model;

using hpcnn::test::random_batch;

TEST_CASE("Poisoned backend: the host dereferencing a device pointer dies with SIGSEGV", "[poisoned]") {
  auto be = kernels::make_poisoned_backend();
  CHECK(be->device() == kernels::DeviceKind::kGpu);
  CHECK(be->name() == "poisoned");
  float* p = be->allocate(16);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGSEGV, SIG_DFL);  // not Catch's handler: die of the signal itself
    volatile float* v = p;
    v[3] = 1.0f;  // must not return
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
  // Through the backend the same memory works, and host memory is refused.
  const std::vector<float> ones(16, 1.0f);
  be->upload(p, ones.data(), 16);
  std::vector<float> back(16);
  be->download(back.data(), p, 16);
  CHECK(back == ones);
  std::vector<float> host(16);
  CHECK_THROWS_WITH(be->copy(host.data(), p, 16), Catch::Contains("not device memory"));
  CHECK_THROWS_WITH(be->copy(p + 8, p, 16), Catch::Contains("not inside one device allocation"));
  const kernels::TransferCounters t = be->transfers();
  CHECK(t.host_to_device_bytes == 64);
  CHECK(t.device_to_host_bytes == 64);
  be->release(p);
}

TEST_CASE("Poisoned backend: training, evaluation and checkpoints equal the reference bitwise", "[poisoned]") {
  const Shape small{1, 10, 10};
  struct Case {
    const char* model;
    LossKind loss;
  };
  for (const Case& c :
       {Case{"conv:4x3:same relu maxpool:2 dropout:0.3 flatten dense:8 relu dense:3", LossKind::kSoftmaxCrossEntropy},
        Case{"conv:2x3 relu flatten dense:4 relu dense:2", LossKind::kMeanSquaredError},
        // The MobileNet layers: batch norm (running statistics in the flat buffer), depthwise and
        // bias-free convs, ReLU6, a residual add, zero padding, global average pooling.
        Case{"conv:4x3:same:nobias bn relu6@a dwconv:3:same:nobias bn relu6 add:a zeropad:0:1:0:1 dwconv:3:s2 gap "
             "dense:3",
             LossKind::kSoftmaxCrossEntropy}}) {
    INFO(c.model);
    const ModelSpec spec = make_model(c.model, &small);
    auto ref = kernels::make_reference_backend();
    auto poisoned = kernels::make_poisoned_backend();
    Model a(spec, c.loss, *ref, 5);
    Model b(spec, c.loss, *poisoned, 5);
    OptimizerConfig oc;
    Optimizer oa(oc, *ref, a.num_params()), ob(oc, *poisoned, b.num_params());
    for (int step = 0; step < 3; ++step) {
      const data::Batch batch = random_batch(spec, 4 + step, c.loss, 20 + static_cast<uint64_t>(step), 100);
      const auto la = a.train_step(batch, 0.25f, step), lb = b.train_step(batch, 0.25f, step);
      CHECK(la.loss_sum == lb.loss_sum);
      oa.step(a.params(), a.grads());
      ob.step(b.params(), b.grads());
    }
    CHECK(a.params_host() == b.params_host());
    const data::Batch eval = random_batch(spec, 7, c.loss, 99, 100);
    std::vector<float> outa, outb;
    const auto ea = a.evaluate(eval, &outa), eb = b.evaluate(eval, &outb);
    CHECK(ea.loss_sum == eb.loss_sum);
    CHECK(outa == outb);
    // A checkpoint written from device memory restores onto it.
    const auto path = std::filesystem::temp_directory_path() / ("hpcnn-poisoned-" + std::to_string(::getpid()) + ".h5");
    train::save_checkpoint(path, b, &ob, 1, 5);
    const train::Checkpoint ck = train::load_checkpoint(path);
    std::filesystem::remove(path);
    auto again = train::restore_model(ck, *poisoned);
    CHECK(again->params_host() == a.params_host());
    CHECK(ck.optimizer_steps == 3);
    CHECK(poisoned->transfers().uploads > 0);
  }
}
