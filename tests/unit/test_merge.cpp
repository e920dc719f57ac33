// hpcnn-merge on hand-made run directories with known answers, including a
// cut-off rank file, a missing rank and files that are not timing at all.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "allreduce_compare.hpp"
#include "core/error.hpp"
#include "fixtures.hpp"
#include "layers.hpp"
#include "run_timings.hpp"
#include "scaling.hpp"
#include "summary.hpp"

using namespace hpcnn;
using namespace hpcnn::merge;
using Catch::Matchers::Contains;
using hpcnn::test::write_text;

namespace {

/// One step of one rank: durations of the five inner phases; `step` is their
/// sum plus `extra`. Times are exact binary fractions so sums compare exactly.
struct FakeStep {
  double data, forward, backward, allreduce, optimizer;
  int64_t samples = 4;
  double extra = 0;
  double step() const { return data + forward + backward + allreduce + optimizer + extra; }
};

std::string rank_csv(int rank, const std::vector<FakeStep>& steps, int64_t epoch = 1) {
  std::ostringstream os;
  os << std::setprecision(17) << "rank,epoch,step,phase,start_s,seconds,bytes,samples\n";
  double t = 0;
  int64_t n = 0;
  for (const FakeStep& s : steps) {
    ++n;
    const double begin = t;
    const double parts[5] = {s.data, s.forward, s.backward, s.allreduce, s.optimizer};
    const char* names[5] = {"data", "forward", "backward", "allreduce", "optimizer"};
    for (int p = 0; p < 5; ++p) {
      os << rank << ',' << epoch << ',' << n << ',' << names[p] << ',' << t << ',' << parts[p] << ','
         << (p == 3 ? 1000 : 0) << ',' << s.samples << '\n';
      t += parts[p];
    }
    os << rank << ',' << epoch << ',' << n << ",step," << begin << ',' << s.step() << ",1000," << s.samples << '\n';
    t = begin + s.step();
  }
  return os.str();
}

void write_run_json(const std::filesystem::path& dir, int world, int64_t global_batch, const std::string& model = "m") {
  std::ostringstream hosts;
  for (int r = 0; r < world; ++r) hosts << (r ? "," : "") << "\"node" << r << "\"";
  write_text(dir / "run.json", cat("{\"format\": \"hpcnn-run\", \"world_size\": ", world, ", \"hosts\": [", hosts.str(),
                                   "], \"config\": {\"model\": \"", model, "\", \"global_batch\": ", global_batch,
                                   ", \"batch\": ", global_batch / world, "}}\n"));
}

// Rank 0: steps of 1 s with 0.25 s all-reduce. Rank 1: 2, 1.5, 1 s with 0.125 s.
const std::vector<FakeStep> kRank0 = {
    {0.125, 0.25, 0.375, 0.25, 0}, {0.125, 0.25, 0.375, 0.25, 0}, {0.125, 0.25, 0.375, 0.25, 0}};
const std::vector<FakeStep> kRank1 = {
    {0.125, 0.5, 1.25, 0.125, 0}, {0.125, 0.5, 0.75, 0.125, 0}, {0.125, 0.25, 0.5, 0.125, 0}};

bool any_warning(const std::vector<std::string>& warnings, const std::string& needle) {
  for (const auto& w : warnings) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("merge: compute_stats: mean, median, nearest-rank p95, max", "[merge]") {
  std::vector<double> v;
  for (int i = 20; i >= 1; --i) v.push_back(i);
  const Stats s = compute_stats(v);
  CHECK(s.count == 20);
  CHECK(s.mean == 10.5);
  CHECK(s.median == 10.5);
  CHECK(s.p95 == 19);  // ceil(0.95 * 20) = 19th smallest
  CHECK(s.max == 20);
  CHECK(s.total == 210);
  CHECK(compute_stats({3, 1, 2}).median == 2);
  CHECK(compute_stats({5}).p95 == 5);
  CHECK(compute_stats({}).count == 0);
}

TEST_CASE("merge: summary of a clean two-rank run has the hand-computed values", "[merge]") {
  test::ScratchDir dir("merge-clean");
  write_run_json(dir.path(), 2, 8);
  write_text(dir / "timing/rank-00000.csv", rank_csv(0, kRank0));
  write_text(dir / "timing/rank-00001.csv", rank_csv(1, kRank1));
  const RunTimings run = load_run(dir.path());
  CHECK(run.warnings.empty());
  REQUIRE(run.ranks.size() == 2);
  CHECK(run.ranks[1].host == "node1");

  const RunSummary s = summarize(run, {0});
  CHECK(s.warnings.empty());
  CHECK(s.steps_used == 3);
  CHECK(s.ranks_present == 2);
  // Slowest rank per step: 2, 1.5, 1.
  CHECK(s.step_time.total == 4.5);
  CHECK(s.step_time.median == 1.5);
  CHECK(s.step_time.max == 2);
  CHECK(s.samples == 24);
  CHECK(s.samples_per_second == Approx(24 / 4.5));
  // All-reduce 0.75 + 0.375 of 3 + 4.5 step seconds.
  CHECK(s.comm_fraction == Approx(1.125 / 7.5));
  // Compute: rank 0 3 - 0.75 = 2.25, rank 1 4.5 - 0.375 = 4.125.
  CHECK(s.load_imbalance == Approx(4.125 / ((2.25 + 4.125) / 2)));
  CHECK(s.slowest_rank == 1);
  const Stats& backward = s.phase[static_cast<int>(Phase::kBackward)];
  CHECK(backward.count == 6);
  CHECK(backward.max == 1.25);
  CHECK(backward.median == 0.4375);  // sorted: .375 .375 .375 .5 .75 1.25

  SECTION("the default warm-up leaves the first step out") {
    const RunSummary w = summarize(run);
    CHECK(w.steps_used == 2);
    CHECK(w.warmup_skipped == 1);
    CHECK(w.step_time.total == 2.5);
    CHECK(w.samples_per_second == Approx(16 / 2.5));
  }
  SECTION("a warm-up longer than the run keeps every step") { CHECK(summarize(run, {10}).steps_used == 3); }
  SECTION("outputs carry the numbers") {
    const nlohmann::json j = summary_json(s);
    CHECK(j["format"] == "hpcnn-merge-summary");
    CHECK(j["step_slowest"]["total_s"] == 4.5);
    CHECK(j["phases"]["allreduce"]["count"] == 6);
    const std::string csv = summary_csv(s);
    CHECK_THAT(csv, Contains("phase,count,mean_s,median_s,p95_s,max_s,total_s\n"));
    CHECK_THAT(csv, Contains("step_slowest,3,1.5,1.5,2,2,4.5\n"));
    const std::string md = summary_markdown(s);
    CHECK_THAT(md, Contains("| throughput | 5.3 samples/s |"));
    CHECK_THAT(md, Contains("| ranks | 2 of 2 |"));
  }
  SECTION("merged trace: one process per rank, one thread per phase, every row once") {
    const nlohmann::json t = merged_trace(run);
    int complete = 0, names = 0;
    for (const auto& e : t["traceEvents"]) {
      if (e["ph"] == "X") {
        ++complete;
        CHECK(e["tid"].get<int>() < kNumPhases);
      }
      if (e["ph"] == "M" && e["name"] == "process_name") {
        ++names;
        CHECK_THAT(e["args"]["name"].get<std::string>(), Contains("(node"));
      }
    }
    CHECK(complete == 2 * 3 * kNumPhases);
    CHECK(names == 2);
  }
}

TEST_CASE("merge: a sharded optimizer's allgather rows are their own phase, and files without them read as 0 s",
          "[merge]") {
  test::ScratchDir dir("merge-allgather");
  write_run_json(dir.path(), 2, 8);
  // Rank 0 wrote allgather rows (a newer file), rank 1 did not (an older one).
  std::string rank0 = rank_csv(0, kRank0);
  for (int step = 1; step <= 3; ++step) rank0 += cat("0,1,", step, ",allgather,0,0.125,0,4\n");
  write_text(dir / "timing/rank-00000.csv", rank0);
  write_text(dir / "timing/rank-00001.csv", rank_csv(1, kRank1));
  const RunSummary s = summarize(load_run(dir.path()), {0});
  CHECK(s.warnings.empty());
  CHECK(s.steps_used == 3);
  const Stats& gather = s.phase[static_cast<int>(Phase::kAllgather)];
  CHECK(gather.count == 6);
  CHECK(gather.total == 0.375);
  CHECK(gather.max == 0.125);
  CHECK(s.phase[static_cast<int>(Phase::kOptimizer)].total == 0);  // the all-gather is not counted there
  const nlohmann::json j = summary_json(s);
  CHECK(j["phases"]["allgather"]["total_s"] == 0.375);
  CHECK_THAT(summary_csv(s), Contains("\nallgather,6,"));
  CHECK_THAT(summary_markdown(s), Contains("| allgather | 6 |"));
  Phase parsed = Phase::kData;
  CHECK(timing::parse_phase("allgather", parsed));
  CHECK(parsed == Phase::kAllgather);
}

TEST_CASE("merge: a cut-off rank file: partial line and incomplete step dropped, named in warnings", "[merge]") {
  test::ScratchDir dir("merge-truncated");
  write_run_json(dir.path(), 2, 8);
  write_text(dir / "timing/rank-00000.csv", rank_csv(0, kRank0));
  std::string text = rank_csv(1, kRank1);
  // Keep step 1 and 2 whole, then step 3's first two rows and half of its third.
  size_t cut = 0;
  for (int line = 0; line < 1 + 12 + 2; ++line) cut = text.find('\n', cut) + 1;
  text = text.substr(0, cut + 9);
  write_text(dir / "timing/rank-00001.csv", text);

  const RunTimings run = load_run(dir.path());
  CHECK(any_warning(run.warnings, "timing/rank-00001.csv: cut off mid-line"));
  CHECK(any_warning(run.warnings, "timing/rank-00001.csv: 1 step(s) missing some phases"));
  REQUIRE(run.ranks.size() == 2);
  CHECK(run.ranks[1].steps.size() == 2);

  const RunSummary s = summarize(run, {0});
  CHECK(any_warning(s.warnings, "timing/rank-00000.csv: 1 step(s) that not every rank completed"));
  // Only steps 1 and 2, which both ranks finished.
  CHECK(s.steps_used == 2);
  CHECK(s.step_time.total == 3.5);
  CHECK(s.samples == 16);
  CHECK(s.samples_per_second == Approx(16 / 3.5));
  CHECK(s.phase[static_cast<int>(Phase::kStep)].count == 4);
}

TEST_CASE("merge: a missing rank: warned, statistics over the others, throughput unknown", "[merge]") {
  test::ScratchDir dir("merge-missing");
  write_run_json(dir.path(), 3, 12);
  write_text(dir / "timing/rank-00000.csv", rank_csv(0, kRank0));
  write_text(dir / "timing/rank-00001.csv", rank_csv(1, kRank1));
  const RunTimings run = load_run(dir.path());
  CHECK(run.world_size == 3);
  CHECK(run.missing_ranks == std::vector<int>{2});
  CHECK(any_warning(run.warnings, "timing/rank-00002.csv: missing"));
  const RunSummary s = summarize(run, {0});
  CHECK(s.ranks_present == 2);
  CHECK(std::isnan(s.samples_per_second));
  CHECK(any_warning(s.warnings, "throughput unknown"));
  CHECK(s.step_time.total == 4.5);  // what the present ranks show
  CHECK(summary_json(s)["samples_per_second"].is_null());
  CHECK_THAT(summary_markdown(s), Contains("| throughput | n/a samples/s |"));
  CHECK_THROWS_WITH(scaling_study({s}, ScalingMode::kStrong), Contains("no throughput"));
}

TEST_CASE("merge: damaged rank files never crash the loader", "[merge]") {
  test::ScratchDir dir("merge-damaged");
  write_run_json(dir.path(), 4, 16);
  write_text(dir / "timing/rank-00000.csv", rank_csv(0, kRank0));
  write_text(dir / "timing/rank-00001.csv", "");
  write_text(dir / "timing/rank-00002.csv", "this is not,a timing file\n1,2,3\n");
  std::string bad = rank_csv(3, kRank0);
  bad.insert(bad.find('\n') + 1, "3,1,1,forward,zero,0.1,0,4\n0,1,1,forward,0,0.1,0,4\n");
  write_text(dir / "timing/rank-00003.csv", bad);
  const RunTimings run = load_run(dir.path());
  CHECK(any_warning(run.warnings, "timing/rank-00001.csv: empty"));
  CHECK(any_warning(run.warnings, "timing/rank-00002.csv: no timing header"));
  CHECK(any_warning(run.warnings, "timing/rank-00003.csv: 1 malformed row(s) ignored (first at line 2)"));
  CHECK(any_warning(run.warnings, "timing/rank-00003.csv: 1 row(s) name a rank other than 3"));
  CHECK(run.missing_ranks == std::vector<int>{1, 2});
  REQUIRE(run.ranks.size() == 2);
  CHECK(run.ranks[1].steps.size() == 3);  // rank 3's good rows still make whole steps
}

TEST_CASE("merge: without run.json the rank count comes from the files, and no timing at all is an error", "[merge]") {
  test::ScratchDir dir("merge-bare");
  write_text(dir / "timing/rank-00001.csv", rank_csv(1, kRank1));
  const RunTimings run = load_run(dir.path());
  CHECK(run.world_size == 2);
  CHECK(run.missing_ranks == std::vector<int>{0});
  CHECK(any_warning(run.warnings, "run.json: missing"));

  test::ScratchDir empty("merge-empty");
  CHECK_THROWS_WITH(load_run(empty.path()), Contains("no timing/ folder"));
  std::filesystem::create_directories(empty / "timing");
  CHECK_THROWS_WITH(load_run(empty.path()), Contains("no rank-NNNNN.csv files"));
  write_text(empty / "timing/rank-00000.csv", "");
  CHECK_THROWS_WITH(load_run(empty.path()), Contains("no rank file holds a complete step"));
}

TEST_CASE("merge: scaling study: speed-up and efficiency against the fewest ranks", "[merge]") {
  auto summary_for = [](int ranks, double samples_per_second, int64_t global_batch) {
    RunSummary s;
    s.run = cat("np", ranks);
    s.world_size = ranks;
    s.ranks_present = ranks;
    s.samples_per_second = samples_per_second;
    s.config = {{"model", "m"}, {"global_batch", global_batch}};
    s.step_time.mean = static_cast<double>(global_batch) / samples_per_second;
    return s;
  };
  const ScalingStudy strong =
      scaling_study({summary_for(4, 300, 64), summary_for(1, 100, 64), summary_for(2, 180, 64)}, ScalingMode::kStrong);
  REQUIRE(strong.points.size() == 3);
  CHECK(strong.points[0].ranks == 1);
  CHECK(strong.points[1].speedup == Approx(1.8));
  CHECK(strong.points[1].efficiency == Approx(0.9));
  CHECK(strong.points[2].speedup == Approx(3.0));
  CHECK(strong.points[2].efficiency == Approx(0.75));
  CHECK(strong.points[2].batch == 16);
  CHECK(strong.warnings.empty());
  CHECK(scaling_json(strong)["points"][2]["efficiency"].get<double>() == Approx(0.75));
  CHECK_THAT(scaling_markdown(strong), Contains("| 2 | 32 | 64 |"));

  SECTION("strong scaling warns when the global batch changes") {
    const ScalingStudy s = scaling_study({summary_for(1, 100, 64), summary_for(2, 180, 128)}, ScalingMode::kStrong);
    CHECK(any_warning(s.warnings, "global batch 128 differs"));
  }
  SECTION("weak scaling: efficiency is the step-time ratio") {
    const ScalingStudy w = scaling_study({summary_for(1, 100, 32), summary_for(2, 190, 64)}, ScalingMode::kWeak);
    CHECK(w.warnings.empty());
    CHECK(w.points[1].efficiency == Approx(w.points[0].step_seconds / w.points[1].step_seconds));
    CHECK(w.points[1].efficiency == Approx(0.95));
  }
}

TEST_CASE("merge: all-reduce comparison: best correct algorithm and its ratio to mpi", "[merge]") {
  test::ScratchDir dir("merge-bench");
  const std::string header = "algo,ranks,nodes,count,bytes,time_us,algbw_gbs,busbw_gbs,wrong\n";
  write_text(dir / "a.csv", header +
                                "ring,2,1,256,1024,10,0.1,0.1,0\n"
                                "mpi,2,1,256,1024,5,0.2,0.2,0\n"
                                "rhd,2,1,256,1024,1,1.0,1.0,3\n"
                                "ring,2,1,1024,4096,10,0.4,0.8,0\n"
                                "garbage line\n");
  write_text(dir / "b.csv", header + "mpi,4,1,1024,4096,20,0.2,0.3,0\nring,4,1,1024,4096,10,0.4,0.6,0\n");
  const AllreduceComparison c = compare_allreduce({dir / "a.csv", dir / "b.csv"});
  CHECK(c.algos == std::vector<std::string>{"ring", "mpi", "rhd"});
  REQUIRE(c.rows.size() == 3);
  CHECK(c.rows[0].bytes == 1024);
  CHECK(c.rows[0].best == "mpi");  // rhd was faster but wrong
  CHECK(c.rows[0].best_over_mpi == Approx(1.0));
  CHECK(c.rows[1].best == "ring");
  CHECK(c.rows[1].best_over_mpi == 0);  // no mpi row at 4 KiB on 2 ranks
  CHECK(c.rows[2].ranks == 4);
  CHECK(c.rows[2].best_over_mpi == Approx(2.0));
  CHECK(any_warning(c.warnings, "a.csv:6: malformed row ignored"));
  CHECK(any_warning(c.warnings, "rhd at 1024 B on 2 ranks gave 3 wrong"));
  const std::string md = comparison_markdown(c);
  CHECK_THAT(md, Contains("### 2 ranks, 1 node(s): busBw GB/s"));
  CHECK_THAT(md, Contains("| 1 KiB | 0.100 | **0.200** | 1.000 (wrong) | mpi | 1.00 |"));
  CHECK_THAT(comparison_csv(c), Contains("4,1,4096,ring,10,0.4,0.6,0,1\n"));

  write_text(dir / "not-bench.csv", "a,b\n1,2\n");
  CHECK_THROWS_WITH(compare_allreduce({dir / "not-bench.csv"}), Contains("not an `hpcnn bench allreduce --csv` file"));
}

TEST_CASE("merge: per-layer medians over the steps after the warm-up, per rank and layer", "[merge][trace]") {
  auto ev = [](int rank, int64_t step, int layer, const char* pass, double dur_us) {
    return nlohmann::json{
        {"name", cat(layer, " dense:8 ", pass)},
        {"cat", "layer"},
        {"ph", "X"},
        {"pid", rank},
        {"tid", std::string(pass) == "forward" ? 1 : 2},
        {"ts", 0.0},
        {"dur", dur_us},
        {"args",
         {{"epoch", 1}, {"step", step}, {"layer", layer}, {"kind", "dense"}, {"output", "(8, 1, 1)"}, {"pass", pass}}}};
  };
  std::vector<nlohmann::json> events;
  // Rank 1, layer 2: steps 1..4 forward 100 (warm-up, left out), 1000, 3000, 2000 us; backward 10x.
  const double fwd[] = {100, 1000, 3000, 2000};
  for (int64_t s = 1; s <= 4; ++s) {
    events.push_back(ev(1, s, 2, "forward", fwd[s - 1]));
    events.push_back(ev(1, s, 2, "backward", 10 * fwd[s - 1]));
    events.push_back(ev(0, s, 2, "forward", 500));
    events.push_back(ev(0, s, 2, "backward", 700));
  }
  events.push_back(ev(0, 9, 1, "forward", 40));  // one step only: kept despite the warm-up
  const std::vector<LayerRow> rows = layer_summary(events, 1);
  REQUIRE(rows.size() == 3);
  CHECK((rows[0].rank == 0 && rows[0].layer == 1 && rows[0].steps == 1));
  CHECK(rows[0].forward_ms == Approx(0.04));
  CHECK((rows[1].rank == 0 && rows[1].layer == 2 && rows[1].steps == 3));  // rank 0's steps 2, 3, 4 (and 9)
  CHECK(rows[1].backward_ms == Approx(0.7));
  CHECK((rows[2].rank == 1 && rows[2].layer == 2 && rows[2].steps == 3));
  CHECK(rows[2].forward_ms == Approx(2.0));
  CHECK(rows[2].backward_ms == Approx(20.0));
  CHECK(rows[2].name == "2 dense:8");
  CHECK(layers_csv(rows).find("1,2,2 dense:8,dense,\"(8, 1, 1)\",3,2.0000,20.0000\n") != std::string::npos);
}
