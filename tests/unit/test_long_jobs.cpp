// Long jobs: resumable checkpoints, the run directory's rules, the
// watchdog's diagnosis, preemption signals and timing files on resume.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "backend.hpp"
#include "core/fs.hpp"
#include "fixtures.hpp"
#include "timing/timing.hpp"
#include "train/checkpoint.hpp"
#include "train/preemption.hpp"
#include "train/run_dir.hpp"
#include "train/trainer.hpp"
#include "train/watchdog.hpp"

using namespace hpcnn;
using namespace hpcnn::train;
namespace fs = std::filesystem;

namespace {
void save_small(const fs::path& path, const TrainState* state) {
  auto backend = kernels::make_reference_backend();
  model::Model net(model::make_model("mlp:8"), model::LossKind::kSoftmaxCrossEntropy, *backend, 3, nullptr);
  model::Optimizer opt({}, *backend, net.num_params());
  save_checkpoint(path, net, &opt, 2, 3, nullptr, state);
}
}  // namespace

TEST_CASE("Checkpoint: the training state round-trips exactly", "[long-jobs][checkpoint]") {
  test::ScratchDir dir("state");
  TrainState s;
  s.global_step = 3;
  s.epoch = 2;
  s.steps_in_epoch = 1;
  s.epoch_done = false;
  s.history = {{"train_seconds", 0.1 + 0.2}, {"partial", {{"loss_sum", 1.0 / 3.0}}}};
  s.step_losses = {0.1, 1.0 / 7.0, 2.5e-300};
  save_small(dir / "s.h5", &s);
  const Checkpoint c = load_checkpoint(dir / "s.h5");
  REQUIRE(c.state);
  CHECK(c.state->global_step == 3);
  CHECK(c.state->epoch == 2);
  CHECK(c.state->steps_in_epoch == 1);
  CHECK_FALSE(c.state->epoch_done);
  CHECK(c.state->history == s.history);  // doubles bit for bit through the JSON text
  CHECK(c.state->step_losses == s.step_losses);
  // Without a state the checkpoint is still a model, but not a resume point.
  save_small(dir / "plain.h5", nullptr);
  CHECK_FALSE(load_checkpoint(dir / "plain.h5").state);
  CHECK(resumable_checkpoints(dir.path(), {dir / "plain.h5", dir / "s.h5"}).size() == 1);
}

TEST_CASE("Checkpoint: a step count that disagrees with the losses is refused", "[long-jobs][bad-input]") {
  test::ScratchDir dir("state-bad");
  TrainState s;
  s.global_step = 5;
  s.steps_in_epoch = 2;
  s.step_losses = {1.0, 2.0};  // 2 losses for 5 steps
  save_small(dir / "s.h5", &s);
  CHECK_THROWS_WITH(load_checkpoint(dir / "s.h5"), Catch::Contains("should hold 5 values"));
  CHECK(resumable_checkpoints(dir.path(), {dir / "s.h5"}).empty());  // skipped, not fatal
}

TEST_CASE("Run directory: periodic checkpoints are kept newest first and pruned", "[long-jobs]") {
  test::ScratchDir dir("periodic");
  for (int64_t step : {7, 14, 21, 28}) {
    TrainState s;
    s.global_step = step;
    s.steps_in_epoch = step;
    s.step_losses.assign(static_cast<size_t>(step), 0.5);
    save_small(periodic_checkpoint_path(dir.path(), step), &s);
  }
  std::ofstream(dir / "checkpoints" / "step-000000035.h5") << "torn";  // a damaged newest one
  auto found = resumable_checkpoints(dir.path(), {});
  REQUIRE(found.size() == 4);
  CHECK(found.front().first == 28);
  prune_checkpoints(dir.path(), 2);
  found = resumable_checkpoints(dir.path(), {});
  REQUIRE(found.size() == 1);  // the torn 35 and 28 are the newest two names
  CHECK(found.front().first == 28);
}

TEST_CASE("Run directory: one live run, states, --force only on hpcnn's files", "[long-jobs]") {
  test::ScratchDir dir("rundir");
  const fs::path run = dir / "run";
  {
    RunDirectory rd(run);
    const RunDecision decision = rd.prepare(false, false, run / "model.h5");
    CHECK_FALSE(decision.resume);
    // A second run into the same directory while this one lives.
    CHECK_THROWS_WITH(RunDirectory(run), Catch::Contains("in use by a live run (pid"));
    rd.write_manifest({{"world_size", 2}}, RunStatus::kRunning);
    rd.set_status(RunStatus::kComplete, "done");
  }
  const auto manifest = nlohmann::json::parse(read_text_file(run / "run.json"));
  CHECK(manifest["status"] == "complete");
  CHECK(manifest["world_size"] == 2);
  {
    RunDirectory rd(run);  // the lock went with the first one
    CHECK_THROWS_WITH(rd.prepare(false, false, run / "model.h5"), Catch::Contains("holds a complete run"));
    CHECK_THROWS_WITH(rd.prepare(true, false, run / "model.h5"),
                      Catch::Contains("complete but no resumable checkpoint"));
    std::ofstream(run / "metrics.json") << "{}";
    std::ofstream(run / "model.h5.tmp.999999") << "x";
    const RunDecision decision = rd.prepare(false, true, run / "model.h5");
    CHECK_FALSE(decision.resume);
    CHECK_FALSE(fs::exists(run / "run.json"));
    CHECK_FALSE(fs::exists(run / "metrics.json"));
    CHECK_FALSE(fs::exists(run / "model.h5.tmp.999999"));
    std::ofstream(run / "notes.txt") << "mine";
    CHECK_THROWS_WITH(rd.prepare(false, true, run / "model.h5"), Catch::Contains("notes.txt"));
    CHECK(fs::exists(run / "notes.txt"));
  }
  {
    // An unfinished run with a checkpoint is resumed; leftovers are removed.
    const fs::path r2 = dir / "r2";
    RunDirectory rd(r2);
    rd.write_manifest({{"world_size", 1}}, RunStatus::kPreempted);
    TrainState s;
    s.global_step = 4;
    s.steps_in_epoch = 4;
    s.step_losses.assign(4, 1.0);
    save_small(periodic_checkpoint_path(r2, 4), &s);
    std::ofstream(r2 / "checkpoints" / "step-000000008.h5.tmp.123") << "x";
    const RunDecision decision = rd.prepare(false, false, r2 / "model.h5");
    CHECK(decision.resume);
    CHECK(decision.checkpoint_step == 4);
    CHECK(decision.previous_status == "preempted");
    CHECK(decision.previous_world_size == 1);
    CHECK_FALSE(fs::exists(r2 / "checkpoints" / "step-000000008.h5.tmp.123"));
  }
  CHECK_THROWS_WITH(RunDirectory(dir / "r3").prepare(true, false, dir / "r3" / "model.h5"),
                    Catch::Contains("no run.json there"));
}

TEST_CASE("Resume: options that change the trajectory must match", "[long-jobs]") {
  const nlohmann::json recorded{{"model", "tiny-cnn"}, {"lr", 0.001}, {"global_batch", 64}, {"threads", 2},
                                {"epochs", 3},         {"seed", 42},  {"world_size", 2}};
  nlohmann::json current = recorded;
  current["threads"] = 1;
  current["epochs"] = 10;
  current["world_size"] = 1;
  CHECK(resume_mismatch(recorded, current).empty());
  current["lr"] = 0.01;
  CHECK(resume_mismatch(recorded, current) == "--lr is 0.01 here but 0.001 in the run being resumed");
  current = recorded;
  current["global_batch"] = 128;
  CHECK_THAT(resume_mismatch(recorded, current), Catch::StartsWith("--global-batch is 128"));
}

TEST_CASE("Watchdog: the diagnosis names who stalled and where", "[long-jobs][watchdog]") {
  const double now = 1000.0;
  Heartbeat me{0, 11, "a", 1, 5, "allreduce", now - 12, now};
  Heartbeat stopped{1, 22, "b", 1, 5, "forward/backward", now - 13, now - 11};
  Heartbeat waiting{2, 33, "c", 1, 5, "allreduce", now - 12, now - 0.5};
  Heartbeat reading{3, 44, "d", 1, 5, "data", now - 40, now - 0.5};
  std::string d = diagnose_stall(0, {me, stopped, waiting, reading}, 4, now, 12, 4);
  CHECK_THAT(d, Catch::StartsWith("watchdog: rank 0 made no progress for 12 s (in allreduce at epoch 1 step 5)"));
  CHECK_THAT(d, Catch::Contains("rank 1 (pid 22 on b) not responding for 11 s, last seen in forward/backward"));
  CHECK_THAT(d, Catch::Contains("rank 3 (pid 44 on d) stuck in data at epoch 1 step 5 for 40 s"));
  CHECK_THAT(d, !Catch::Contains("rank 2"));
  CHECK_THAT(d, Catch::Contains("(exit 3)"));
  // Everyone alive and waiting: the exchange itself.
  d = diagnose_stall(0, {me, waiting}, 3, now, 12, 4);
  CHECK_THAT(d, Catch::Contains("rank 1 left no heartbeat"));
  d = diagnose_stall(0, {me, {1, 5, "x", 1, 5, "allreduce", now - 12, now}}, 2, now, 12, 4);
  CHECK_THAT(d, Catch::Contains("all 2 ranks are alive and waiting on each other"));
  // This rank itself stuck outside a collective.
  Heartbeat self_stuck{0, 11, "a", 2, 1, "data", now - 20, now};
  CHECK_THAT(diagnose_stall(0, {self_stuck}, 1, now, 20, 4), Catch::Contains("rank 0 itself is stuck in data"));
}

TEST_CASE("Watchdog: heartbeat lines parse back", "[long-jobs][watchdog]") {
  Heartbeat b;
  REQUIRE(parse_heartbeat("123 node7 2 40 forward/backward 1700000000.250 1700000001.500      ", b));
  CHECK(b.pid == 123);
  CHECK(b.host == "node7");
  CHECK(b.epoch == 2);
  CHECK(b.step == 40);
  CHECK(b.phase == "forward/backward");
  CHECK(b.alive_unix == 1700000001.5);
  CHECK_FALSE(parse_heartbeat("123 node7 2", b));
  CHECK_FALSE(parse_heartbeat("123 node7 2 40 data nan 5", b));

  test::ScratchDir dir("hb");
  {
    Watchdog w(0, 3, 4, dir.path());  // timeout off: heartbeats only
    w.mark(RunPhase::kOptimizer, 7, 9);
  }
  std::ifstream in(dir / "rank-00003");
  std::string line;
  REQUIRE(std::getline(in, line));
  REQUIRE(parse_heartbeat(line, b));
  CHECK(b.phase == "finish");
  CHECK(b.epoch == 7);
  CHECK(b.step == 9);
}

TEST_CASE("Preemption: the first signal is recorded, not fatal", "[long-jobs]") {
  {
    PreemptionSignals signals;
    CHECK(preemption_signal() == 0);
    kill(getpid(), SIGUSR1);  // process-directed, as Slurm and mpirun send it
    for (int i = 0; i < 200 && preemption_signal() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(preemption_signal() == SIGUSR1);
    clear_preemption_signal();
  }
  CHECK(preemption_signal() == 0);
}

TEST_CASE("Preemption: no handler runs on a worker thread, the waiter takes the signal", "[long-jobs]") {
  // A thread started while the signals are blocked inherits the block: the
  // signal cannot interrupt it (the heap corruption of issue 32 came from a
  // handler frame on a oneDNN thread), and only the waiter consumes it.
  PreemptionSignals signals;
  std::atomic<bool> worker_blocked{false};
  std::thread worker([&] {
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    worker_blocked = sigismember(&mask, SIGTERM) == 1 && sigismember(&mask, SIGUSR1) == 1;
  });
  worker.join();
  CHECK(worker_blocked);
  kill(getpid(), SIGTERM);
  for (int i = 0; i < 200 && preemption_signal() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(preemption_signal() == SIGTERM);
  clear_preemption_signal();
}

TEST_CASE("Timing: a resumed run keeps its rows up to the checkpoint", "[long-jobs][timing]") {
  test::ScratchDir dir("timing-resume");
  const fs::path csv = dir / "rank-00000.csv";
  {
    timing::RankTimingWriter w(csv, 0);
    for (int64_t step = 1; step <= 4; ++step) {
      w.record(1, step, timing::Phase::kStep, static_cast<double>(step), 0.5, 0, 8);
      w.end_step();
    }
  }
  {
    timing::RankTimingWriter w(csv, 0, {}, timing::ResumePoint{1, 2});
    CHECK(w.now() >= 2.5);  // the clock goes on from the last kept row's end
    w.record(1, 3, timing::Phase::kStep, w.now(), 0.5, 0, 8);
    w.end_step();
  }
  std::ifstream in(csv);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);  // header, steps 1 and 2 kept, step 3 again
  CHECK(lines[0] == timing::kCsvHeader);
  CHECK_THAT(lines[1], Catch::StartsWith("0,1,1,step,"));
  CHECK_THAT(lines[2], Catch::StartsWith("0,1,2,step,"));
  CHECK_THAT(lines[3], Catch::StartsWith("0,1,3,step,"));
}
