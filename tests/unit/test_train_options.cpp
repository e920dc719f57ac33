// The train options table (train/train_options.hpp): every option goes
// command line -> TrainConfig -> run.json -> --resume's restore and the
// resume check, so a row missing from any of them fails here.
#include <catch2/catch.hpp>

#include <fstream>

#include "cli/train_args.hpp"
#include "comm/allreduce.hpp"
#include "core/error.hpp"
#include "test_helpers.hpp"
#include "train/train_options.hpp"
#include "train/trainer.hpp"

using namespace hpcnn;
using namespace hpcnn::train;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
TrainArgs parse_args(std::vector<std::string> args) {
  args.push_back("-q");
  TrainArgs a;
  cli::CommonConfig common;
  REQUIRE(cli::parse_train_args(args, a, common));
  return a;
}

/// run.json's config for `a` run on one rank (global batch and bucket resolved as the trainer does).
json resolved(const TrainArgs& a) {
  const TrainConfig& c = a.config;
  json j = resolved_config(c, 1, c.global_batch > 0 ? c.global_batch : c.batch, comm::allreduce_name(c.allreduce),
                           c.bucket_mb < 0 ? 0.0 : c.bucket_mb);
  return j;
}

void write_run(const fs::path& dir, const json& config) {
  fs::create_directories(dir);
  std::ofstream(dir / "run.json") << json{{"format", "hpcnn-run"}, {"config", config}}.dump();
}
}  // namespace

TEST_CASE("Every train option round-trips from the command line through run.json to the resume check",
          "[train-options]") {
  test::ScratchDir dir("train-options");
  const std::string checkpoint_file = (dir / "init.h5").string();
  std::ofstream(checkpoint_file) << "x";  // the command line only checks that it is a file
  int rows = 0;
  for (const TrainOption& o : train_options()) {
    if (o.name.empty() || o.name == "resume") continue;  // recorded-only rows; --resume is the mechanism itself
    ++rows;
    INFO("--" << o.name);
    // What the option needs beside it to mean anything.
    std::vector<std::string> context;
    if (o.name == "shuffle-window") context = {"--sampling", "local"};
    if (o.name == "init-until") context = {"--init-from", checkpoint_file};
    const std::string example = o.name == "init-from" ? checkpoint_file : o.example;
    REQUIRE(!example.empty());
    std::vector<std::string> changed = context;
    changed.push_back("--" + o.name);
    if (!o.has(TrainOption::kSwitch)) changed.push_back(example);

    // Command line -> configuration: the value arrives (no option is silently ignored).
    const TrainArgs base = parse_args(context);
    const TrainArgs with = parse_args(changed);
    CHECK(o.text(with) != o.text(base));
    if (o.key.empty() || o.name == "force") continue;

    // Configuration -> run.json -> --resume: a restored option not given takes the recorded value.
    const fs::path recorded_with = dir / ("with-" + o.name);
    write_run(recorded_with, resolved(with));
    const TrainArgs restored = parse_args({"--resume", recorded_with.string()});
    if (o.has(TrainOption::kRestored)) CHECK(o.json(restored.config) == o.json(with.config));

    // The resume check: a changed trajectory option is refused by its name, any other is not.
    const fs::path recorded_base = dir / ("base-" + o.name);
    write_run(recorded_base, resolved(base));
    std::vector<std::string> resume_args{"--resume", recorded_base.string(), "--" + o.name};
    if (!o.has(TrainOption::kSwitch)) resume_args.push_back(example);
    const TrainArgs resumed = parse_args(resume_args);
    json current = resolved(resumed);
    current["global_batch_requested"] = resumed.config.global_batch;
    const std::string differs = resume_mismatch(resolved(base), current);
    // --batch is not itself recorded as a trajectory option, but the global batch it makes is.
    if (o.has(TrainOption::kTrajectory) || o.name == "batch") {
      CHECK_THAT(differs, Catch::StartsWith("--" + o.name + " "));
    } else {
      CHECK(differs.empty());
    }
  }
  CHECK(rows >= 35);
}

TEST_CASE("run.json's config record is the table's rows, with TrainConfig's defaults", "[train-options]") {
  const TrainConfig defaults;
  const json j = defaults.to_json();
  size_t keys = 0;
  for (const TrainOption& o : train_options()) {
    if (o.key.empty()) continue;
    ++keys;
    CHECK(j.contains(o.key));
  }
  CHECK(j.size() == keys);
  // Defaults stated once: the command line's are the struct's.
  const TrainArgs a = parse_args({});
  CHECK(a.config.to_json() == j);
  CHECK(j["seed"] == 42);
  CHECK(j["lr"] == model::OptimizerConfig{}.lr);
  CHECK(a.config.checkpoint_every_seconds == defaults.checkpoint_every_seconds);
  CHECK(a.config.cache_mb == defaults.cache_mb);
}

TEST_CASE("A recorded value --resume cannot read is a usage error naming the option", "[train-options]") {
  test::ScratchDir dir("train-options-bad");
  json config = resolved(parse_args({}));
  config["lr"] = "fast";
  write_run(dir.path(), config);
  TrainArgs a;
  cli::CommonConfig common;
  const cli::Args args{"-q", "--resume", dir.path().string()};
  CHECK_THROWS_WITH(cli::parse_train_args(args, a, common),
                    Catch::Contains("the argument ('fast') for option '--lr' is invalid"));
  CHECK_THROWS_AS(cli::parse_train_args(args, a, common), UsageError);
}
