// Clear messages from training (issue 26 item 13-14): ranks that disagree
// name the option and both values, a stopped job names its signal, the
// watchdog names the rank that is stuck, and option values that used to slip
// through (--adam-epsilon 0, --seed -1) are refused by name.
#include <catch2/catch.hpp>

#include <csignal>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "train/preemption.hpp"
#include "train/ranks_agree.hpp"
#include "train/trainer.hpp"
#include "train/watchdog.hpp"

using namespace hpcnn;
using namespace hpcnn::train;

TEST_CASE("Ranks that disagree are told the first differing key and both values", "[messages]") {
  const std::string rank0 = R"({"lr": 0.001, "model": "tiny-cnn", "seed": 42})";
  const std::string rank1 = R"({"lr": 0.002, "model": "tiny-cnn", "seed": 7})";
  CHECK(describe_difference(1, rank1, 0, rank0) == "rank 1 has lr = 0.002, rank 0 has lr = 0.001");
  // Nested records (the dataset manifest) name the path; a key only one rank has is named too.
  CHECK(describe_difference(1, R"({"splits": {"train": {"samples": 10}}})", 0,
                            R"({"splits": {"train": {"samples": 12}}})") ==
        "rank 1 has splits.train.samples = 10, rank 0 has splits.train.samples = 12");
  CHECK(describe_difference(2, R"({"a": 1, "b": 2})", 0, R"({"a": 1})") == "rank 2 has b = 2, rank 0 has b = nothing");
  CHECK(describe_difference(1, R"({"shards": [1, 2, 3]})", 0, R"({"shards": [1, 5, 3]})") ==
        "rank 1 has shards[1] = 2, rank 0 has shards[1] = 5");
  // Text that is not JSON (the parameter shapes) is shown as it is.
  CHECK(describe_difference(1, "10+2;", 0, "12+2;") == "rank 1 has '10+2;', rank 0 has '12+2;'");
}

TEST_CASE("A job stopped by SIGUSR1 reports SIGUSR1 on every rank, not signal 15", "[messages][long-jobs]") {
  CHECK(signal_name(SIGUSR1) == "SIGUSR1");
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(SIGINT) == cat("signal ", SIGINT));
  // The votes of the step's exchange, summed over ranks: the ranks that were
  // not signalled themselves add 0 and still learn which signal it was.
  CHECK(stop_signal_from_votes(0.0) == 0);
  CHECK(stop_signal_from_votes(stop_vote(0) + stop_vote(SIGUSR1)) == SIGUSR1);
  CHECK(stop_signal_from_votes(stop_vote(SIGTERM) + stop_vote(0) + stop_vote(SIGTERM)) == SIGTERM);
  double many = 0;
  for (int r = 0; r < 4096; ++r) many += stop_vote(SIGUSR1);
  CHECK(stop_signal_from_votes(many) == SIGUSR1);
  many = 0;
  for (int r = 0; r < 4096; ++r) many += stop_vote(SIGTERM);
  CHECK(stop_signal_from_votes(many) == SIGTERM);
}

TEST_CASE("Watchdog: a rank waiting on a stuck rank names that rank, not itself", "[messages][watchdog]") {
  const double now = 1000.0;
  // Rank 0's step waits inside its own phase (a GPU stream behind the
  // collective) while rank 1 is stuck reading.
  Heartbeat me{0, 11, "a", 1, 5, "forward/backward", now - 30, now};
  Heartbeat stuck{1, 22, "b", 1, 5, "data", now - 40, now - 0.5};
  std::string d = diagnose_stall(0, {me, stuck}, 2, now, 30, 4);
  CHECK_THAT(d, Catch::Contains("rank 1 (pid 22 on b) stuck in data at epoch 1 step 5 for 40 s"));
  CHECK_THAT(d, !Catch::Contains("itself"));
  // A silent rank likewise.
  Heartbeat silent{1, 22, "b", 1, 5, "optimizer", now - 40, now - 20};
  d = diagnose_stall(0, {me, silent}, 2, now, 30, 4);
  CHECK_THAT(d, Catch::Contains("rank 1 (pid 22 on b) not responding for 20 s"));
  CHECK_THAT(d, !Catch::Contains("itself"));
  // Only when every other rank waits on it is this rank itself the one stuck.
  Heartbeat waiting{1, 22, "b", 1, 5, "allreduce", now - 30, now - 0.5};
  CHECK_THAT(diagnose_stall(0, {me, waiting}, 2, now, 30, 4),
             Catch::Contains("rank 0 itself is stuck in forward/backward"));
}

TEST_CASE("train refuses --adam-epsilon 0 and --seed -1 by name", "[messages][cli]") {
  CHECK_THROWS_WITH(cli::run_train({"-q", "--adam-epsilon", "0"}),
                    Catch::Contains("--adam-epsilon must be greater than 0 and at most 1 (got 0)"));
  CHECK_THROWS_WITH(cli::run_train({"-q", "--seed", "-1"}), Catch::Contains("--seed must be a whole number"));
  CHECK_THROWS_WITH(cli::run_train({"-q", "--seed", "18446744073709551616"}),
                    Catch::Contains("--seed must be a whole number"));
  CHECK_THROWS_AS(cli::run_train({"-q", "--seed", "-1"}), UsageError);
}

TEST_CASE("A resume with another --batch names --batch, the option typed", "[messages][long-jobs]") {
  nlohmann::json recorded{{"model", "m"}, {"global_batch", 128}, {"batch", 128}, {"world_size", 1}};
  nlohmann::json current = recorded;
  current["batch"] = 64;
  current["global_batch"] = 64;
  current["global_batch_requested"] = 0;  // the per-rank batch decided it
  CHECK(resume_mismatch(recorded, current) ==
        "--batch 64 on 1 rank(s) is a global batch of 64 here but 128 in the run being resumed "
        "(--global-batch 128 keeps it on any rank count)");
  current["global_batch_requested"] = 64;  // --global-batch 64 was typed
  CHECK_THAT(resume_mismatch(recorded, current), Catch::StartsWith("--global-batch is 64 here but 128"));
}
