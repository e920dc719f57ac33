// One run's summary: phase statistics, slowest-rank step time, throughput,
// communication fraction and load imbalance (definitions in summary.hpp).
#include "summary.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "report.hpp"
#include "timing/chrome_trace.hpp"

namespace hpcnn::merge {

Stats compute_stats(std::vector<double> values) {
  Stats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.count = static_cast<int64_t>(n);
  for (double v : values) s.total += v;
  s.mean = s.total / static_cast<double>(n);
  s.median = n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  const size_t rank95 = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(n)));
  s.p95 = values[std::max<size_t>(rank95, 1) - 1];
  s.max = values.back();
  return s;
}

namespace {
using StepKey = std::pair<int64_t, int64_t>;

/// Index of each common step in each rank's list, in (epoch, step) order.
std::vector<std::vector<size_t>> common_steps(const RunTimings& run, std::vector<std::string>& warnings) {
  std::set<StepKey> common;
  for (const StepRecord& s : run.ranks[0].steps) common.insert({s.epoch, s.step});
  for (size_t r = 1; r < run.ranks.size(); ++r) {
    std::set<StepKey> mine;
    for (const StepRecord& s : run.ranks[r].steps) mine.insert({s.epoch, s.step});
    std::set<StepKey> both;
    std::set_intersection(common.begin(), common.end(), mine.begin(), mine.end(), std::inserter(both, both.end()));
    common = std::move(both);
  }
  for (const RankTimings& rank : run.ranks) {
    const size_t extra = rank.steps.size() - common.size();
    if (extra > 0) {
      warnings.push_back(cat(rank.file, ": ", extra, " step(s) that not every rank completed are left out (",
                             common.size(), " steps used)"));
    }
  }
  std::vector<std::vector<size_t>> index(run.ranks.size());
  for (size_t r = 0; r < run.ranks.size(); ++r) {
    std::map<StepKey, size_t> where;
    for (size_t i = 0; i < run.ranks[r].steps.size(); ++i) {
      where.emplace(StepKey{run.ranks[r].steps[i].epoch, run.ranks[r].steps[i].step}, i);
    }
    for (const StepKey& key : common) index[r].push_back(where.at(key));
  }
  return index;
}

std::string ms(double seconds) { return fixed(seconds * 1e3, 3); }

nlohmann::json stats_json(const Stats& s) {
  return {{"count", s.count}, {"mean_s", s.mean}, {"median_s", s.median},
          {"p95_s", s.p95},   {"max_s", s.max},   {"total_s", s.total}};
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

/// The breakdown's parts, in the order the report shows them.
/// checkpoint_bytes: what rank 0 holds only while writing a checkpoint
/// (metrics.json from before it lack it: n/a).
constexpr const char* kMemoryParts[] = {"weights_bytes",     "gradients_bytes",     "optimizer_state_bytes",
                                        "activations_bytes", "communication_bytes", "checkpoint_bytes",
                                        "other_bytes",       "peak_rss_bytes"};

nlohmann::json memory_from_metrics(const nlohmann::json& metrics) {
  nlohmann::json out = nlohmann::json::array();
  if (!metrics.is_object() || !metrics.contains("ranks") || !metrics["ranks"].is_array()) return out;
  for (const nlohmann::json& r : metrics["ranks"]) {
    if (!r.is_object() || !r.contains("memory") || !r["memory"].is_object() || !r.contains("rank") ||
        !r["rank"].is_number_integer())
      continue;
    nlohmann::json m{{"rank", r["rank"]}};
    for (const char* part : kMemoryParts) {
      const auto it = r["memory"].find(part);
      if (it != r["memory"].end() && it->is_number()) m[part] = *it;
    }
    out.push_back(m);
  }
  return out;
}

RunSummary summarize(const RunTimings& run, const SummaryOptions& options) {
  HPCNN_CHECK(!run.ranks.empty(), run.dir.string(), ": no rank with timing to summarise");
  RunSummary s;
  s.run = run.dir.string();
  if (run.run.contains("config") && run.run["config"].is_object()) s.config = run.run["config"];
  s.world_size = run.world_size;
  s.ranks_present = static_cast<int>(run.ranks.size());
  s.missing_ranks = run.missing_ranks;
  s.warnings = run.warnings;
  // The memory breakdown, when the run finished and wrote metrics.json.
  if (std::ifstream in(run.dir / "metrics.json"); in) {
    const nlohmann::json metrics = nlohmann::json::parse(in, nullptr, false);
    s.memory = memory_from_metrics(metrics);
  }

  const auto index = common_steps(run, s.warnings);
  const size_t n_common = index[0].size();
  HPCNN_CHECK(n_common > 0, run.dir.string(), ": the ranks share no complete step");
  const size_t skip = n_common > static_cast<size_t>(options.warmup) ? static_cast<size_t>(options.warmup) : 0;
  s.warmup_skipped = static_cast<int64_t>(skip);
  s.steps_used = static_cast<int64_t>(n_common - skip);

  std::array<std::vector<double>, kNumPhases> phase_values;
  std::vector<double> slowest(n_common - skip, 0.0);
  std::vector<double> compute(run.ranks.size(), 0.0);
  double comm = 0, exposed = 0, total = 0, queue = 0;
  int64_t waited = 0, pairs = 0;
  for (size_t r = 0; r < run.ranks.size(); ++r) {
    int64_t rank_bytes = 0;
    double rank_seconds = 0;
    for (size_t k = skip; k < n_common; ++k) {
      const StepRecord& step = run.ranks[r].steps[index[r][k]];
      const double data_s = step.seconds[static_cast<int>(Phase::kData)];
      rank_bytes += step.data_bytes;
      rank_seconds += step.seconds[static_cast<int>(Phase::kStep)];
      waited += data_s > 1e-3 && data_s > 0.02 * step.seconds[static_cast<int>(Phase::kStep)] ? 1 : 0;
      queue += static_cast<double>(step.queue);
      ++pairs;
      for (int p = 0; p < kNumPhases; ++p) phase_values[p].push_back(step.seconds[p]);
      const double step_s = step.seconds[static_cast<int>(Phase::kStep)];
      const double comm_s = step.seconds[static_cast<int>(Phase::kAllreduce)];
      slowest[k - skip] = std::max(slowest[k - skip], step_s);
      comm += comm_s;
      exposed += step.exposed_comm();
      total += step_s;
      compute[r] += step_s - step.exposed_comm();
      s.samples += step.samples;
    }
    s.bytes_read += rank_bytes;
    s.read_mb_per_s.push_back(rank_seconds > 0 ? static_cast<double>(rank_bytes) / 1e6 / rank_seconds : 0.0);
    s.read_mb_per_s_total += s.read_mb_per_s.back();
  }
  s.data_wait_fraction = pairs > 0 ? static_cast<double>(waited) / static_cast<double>(pairs) : 0.0;
  s.mean_queue_depth = pairs > 0 ? queue / static_cast<double>(pairs) : 0.0;
  for (int p = 0; p < kNumPhases; ++p) s.phase[p] = compute_stats(std::move(phase_values[p]));
  s.step_time = compute_stats(slowest);
  s.train_seconds = s.step_time.total;
  s.samples_per_second = !s.missing_ranks.empty() || s.train_seconds <= 0
                             ? std::numeric_limits<double>::quiet_NaN()
                             : static_cast<double>(s.samples) / s.train_seconds;
  if (!s.missing_ranks.empty()) {
    s.warnings.push_back(cat("throughput unknown: ", s.missing_ranks.size(), " of ", s.world_size,
                             " ranks have no timing, so their samples are unknown"));
  }
  s.comm_fraction = total > 0 ? comm / total : 0.0;
  s.exposed_comm_fraction = total > 0 ? exposed / total : 0.0;
  s.hidden_fraction = comm > 0 ? std::max(0.0, 1.0 - exposed / comm) : std::numeric_limits<double>::quiet_NaN();
  double mean_compute = 0;
  for (double c : compute) mean_compute += c;
  mean_compute /= static_cast<double>(compute.size());
  const auto slow = std::max_element(compute.begin(), compute.end());
  s.slowest_rank = run.ranks[static_cast<size_t>(slow - compute.begin())].rank;
  s.load_imbalance = mean_compute > 0 ? *slow / mean_compute : 1.0;
  return s;
}

std::string summary_markdown(const RunSummary& s) {
  std::ostringstream os;
  os << "## " << s.run << "\n\n";
  if (s.config.contains("model")) {
    // run.json is input: a field of the wrong type prints as "?" (never a throw,
    // never a float forced into an integer).
    auto text = [&](const char* key) {
      const auto it = s.config.find(key);
      return it != s.config.end() && it->is_string() ? it->get<std::string>() : std::string("?");
    };
    auto integer = [&](const char* key) {
      const auto it = s.config.find(key);
      return it != s.config.end() && it->is_number_integer() ? std::to_string(it->get<int64_t>()) : std::string("?");
    };
    os << "Model `" << text("model") << "`, global batch " << integer("global_batch") << ", all-reduce `"
       << text("allreduce") << "`, " << integer("threads") << " thread(s) per rank.\n\n";
  }
  os << "| metric | value |\n| --- | --- |\n";
  os << "| ranks | " << s.ranks_present << " of " << s.world_size << " |\n";
  os << "| steps used | " << s.steps_used << " (first " << s.warmup_skipped << " skipped as warm-up) |\n";
  os << "| step time (slowest rank), median | " << ms(s.step_time.median) << " ms |\n";
  os << "| step time (slowest rank), p95 | " << ms(s.step_time.p95) << " ms |\n";
  os << "| training time (steps used) | " << fixed(s.train_seconds, 3) << " s |\n";
  os << "| throughput | " << fixed(s.samples_per_second, 1) << " samples/s |\n";
  os << "| communication fraction | " << fixed(100 * s.comm_fraction, 1) << " % |\n";
  os << "| exposed communication (waited for) | " << fixed(100 * s.exposed_comm_fraction, 1) << " % |\n";
  os << "| communication hidden behind backward | "
     << (std::isfinite(s.hidden_fraction) ? fixed(100 * s.hidden_fraction, 1) + " %" : std::string("n/a")) << " |\n";
  os << "| load imbalance (slowest / mean compute) | " << fixed(s.load_imbalance, 3) << " (rank " << s.slowest_rank
     << ") |\n";
  os << "| read from storage | " << fixed(static_cast<double>(s.bytes_read) / 1e6, 1) << " MB, "
     << fixed(s.read_mb_per_s_total, 1) << " MB/s over all ranks |\n";
  os << "| steps that waited on data | " << fixed(100 * s.data_wait_fraction, 1) << " % (mean reader queue "
     << fixed(s.mean_queue_depth, 2) << ") |\n\n";
  os << "| phase | count | mean ms | median ms | p95 ms | max ms | total s |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (int p = 0; p < kNumPhases; ++p) {
    const Stats& st = s.phase[p];
    os << "| " << timing::phase_name(static_cast<Phase>(p)) << " | " << st.count << " | " << ms(st.mean) << " | "
       << ms(st.median) << " | " << ms(st.p95) << " | " << ms(st.max) << " | " << fixed(st.total, 3) << " |\n";
  }
  if (!s.memory.empty()) {
    // MB = 2^20 bytes; "other" is the peak RSS less the parts (libraries, data, workspaces).
    os << "\n| rank | weights MB | gradients MB | optimizer state MB | activations MB | communication MB | "
          "checkpoint MB | other MB | peak RSS MB |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "|\n";
    for (const nlohmann::json& m : s.memory) {
      os << "| " << m["rank"].get<int64_t>();
      for (const char* part : kMemoryParts) {
        os << " | " << (m.contains(part) ? fixed(m[part].get<double>() / double(1 << 20), 1) : std::string("n/a"));
      }
      os << " |\n";
    }
  }
  os << warnings_markdown(s.warnings);
  return os.str();
}

std::string summary_csv(const RunSummary& s) {
  std::ostringstream os;
  os << std::setprecision(9) << "phase,count,mean_s,median_s,p95_s,max_s,total_s\n";
  auto row = [&](const char* name, const Stats& st) {
    os << name << ',' << st.count << ',' << st.mean << ',' << st.median << ',' << st.p95 << ',' << st.max << ','
       << st.total << '\n';
  };
  for (int p = 0; p < kNumPhases; ++p) row(timing::phase_name(static_cast<Phase>(p)), s.phase[p]);
  row("step_slowest", s.step_time);
  return os.str();
}

nlohmann::json summary_json(const RunSummary& s) {
  nlohmann::json phases = nlohmann::json::object();
  for (int p = 0; p < kNumPhases; ++p) phases[timing::phase_name(static_cast<Phase>(p))] = stats_json(s.phase[p]);
  return {{"format", "hpcnn-merge-summary"},
          {"version", 1},
          {"run", s.run},
          {"config", s.config},
          {"world_size", s.world_size},
          {"ranks_present", s.ranks_present},
          {"missing_ranks", s.missing_ranks},
          {"steps_used", s.steps_used},
          {"warmup_skipped", s.warmup_skipped},
          {"phases", phases},
          {"step_slowest", stats_json(s.step_time)},
          {"train_seconds", s.train_seconds},
          {"samples", s.samples},
          {"samples_per_second", finite_or_null(s.samples_per_second)},
          {"comm_fraction", s.comm_fraction},
          {"exposed_comm_fraction", s.exposed_comm_fraction},
          {"hidden_fraction", finite_or_null(s.hidden_fraction)},
          {"load_imbalance", s.load_imbalance},
          {"slowest_rank", s.slowest_rank},
          {"bytes_read", s.bytes_read},
          {"read_mb_per_s", s.read_mb_per_s},
          {"read_mb_per_s_total", s.read_mb_per_s_total},
          {"data_wait_fraction", s.data_wait_fraction},
          {"mean_queue_depth", s.mean_queue_depth},
          {"memory", s.memory},
          {"warnings", s.warnings}};
}

nlohmann::json merged_trace(const RunTimings& run, const std::vector<nlohmann::json>& layer_events) {
  nlohmann::json events = nlohmann::json::array();
  for (const RankTimings& rank : run.ranks) {
    const std::string label =
        rank.host.empty() ? cat("rank ", rank.rank) : cat("rank ", rank.rank, " (", rank.host, ")");
    timing::add_rank_tracks(events, rank.rank, label);
    for (const StepRecord& step : rank.steps) {
      for (int p = 0; p < kNumPhases; ++p) {
        events.push_back(timing::phase_event(rank.rank, static_cast<Phase>(p), step.epoch, step.step, step.start[p],
                                             step.seconds[p]));
      }
    }
  }
  // The phases here come from the CSV, rounded to microseconds, the layer
  // events from the rank's trace, unrounded: trim each layer event (by under
  // a microsecond) to its phase so that it stays nested.
  std::map<std::tuple<int, int64_t, int64_t>, const StepRecord*> steps;
  for (const RankTimings& rank : run.ranks) {
    for (const StepRecord& step : rank.steps) steps[{rank.rank, step.epoch, step.step}] = &step;
  }
  for (nlohmann::json e : layer_events) {
    const nlohmann::json& args = e.at("args");
    const auto it =
        steps.find({e.at("pid").get<int>(), args.at("epoch").get<int64_t>(), args.at("step").get<int64_t>()});
    const auto phase = static_cast<size_t>(args.value("pass", "") == "backward" ? Phase::kBackward : Phase::kForward);
    if (it != steps.end()) {
      const double lo = it->second->start[phase] * 1e6, hi = lo + it->second->seconds[phase] * 1e6;
      const double ts = std::clamp(e.at("ts").get<double>(), lo, hi);
      const double end = std::clamp(e.at("ts").get<double>() + e.at("dur").get<double>(), ts, hi);
      e["ts"] = ts;
      e["dur"] = end - ts;
    }
    events.push_back(std::move(e));
  }
  return timing::trace_document(std::move(events));
}

}  // namespace hpcnn::merge
