// Per-layer events: loading them from the rank traces and their medians.
#include "layers.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "summary.hpp"
#include "timing/timing.hpp"

namespace hpcnn::merge {

std::vector<nlohmann::json> load_layer_events(const RunTimings& run, std::vector<std::string>& warnings) {
  std::vector<nlohmann::json> out;
  for (const RankTimings& rank : run.ranks) {
    const std::string file = cat("trace/", timing::rank_file_stem(rank.rank), ".json");
    const std::filesystem::path path = run.dir / file;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    std::set<std::pair<int64_t, int64_t>> steps;
    for (const StepRecord& s : rank.steps) steps.emplace(s.epoch, s.step);
    try {
      const nlohmann::json doc = nlohmann::json::parse(read_text_file(path));
      int64_t dropped = 0;
      for (const nlohmann::json& e : doc.at("traceEvents")) {
        if (!e.is_object() || e.value("cat", "") != "layer") continue;
        const nlohmann::json& args = e.at("args");
        if (e.at("pid").get<int>() != rank.rank ||
            !steps.contains({args.at("epoch").get<int64_t>(), args.at("step").get<int64_t>()})) {
          ++dropped;
          continue;
        }
        (void)e.at("ts").get<double>(), (void)e.at("dur").get<double>(), (void)args.at("layer").get<int>();
        out.push_back(e);
      }
      if (dropped > 0) {
        warnings.push_back(cat(file, ": ", dropped, " layer event(s) of steps without complete timing rows left out"));
      }
    } catch (const std::exception& e) {
      warnings.push_back(cat(file, ": unreadable trace, its layer events are left out (", e.what(), ")"));
    }
  }
  return out;
}

std::vector<LayerRow> layer_summary(const std::vector<nlohmann::json>& events, int64_t warmup) {
  // The steps each rank has layer events for, in order, to skip its first `warmup`.
  std::map<int, std::set<std::pair<int64_t, int64_t>>> steps_of;
  for (const nlohmann::json& e : events) {
    steps_of[e.at("pid").get<int>()].emplace(e["args"]["epoch"].get<int64_t>(), e["args"]["step"].get<int64_t>());
  }
  std::map<int, std::set<std::pair<int64_t, int64_t>>> used;
  for (auto& [rank, steps] : steps_of) {
    auto it = steps.begin();
    if (static_cast<int64_t>(steps.size()) > warmup) std::advance(it, warmup);
    used[rank].insert(it, steps.end());
  }
  struct Acc {
    std::string name, kind, output;
    std::vector<double> fwd, bwd;
  };
  std::map<std::pair<int, int>, Acc> acc;
  for (const nlohmann::json& e : events) {
    const int rank = e.at("pid").get<int>();
    const nlohmann::json& args = e.at("args");
    if (!used[rank].contains({args["epoch"].get<int64_t>(), args["step"].get<int64_t>()})) continue;
    Acc& a = acc[{rank, args.at("layer").get<int>()}];
    const std::string pass = args.value("pass", "");
    std::string name = e.value("name", "");
    if (name.size() > pass.size() + 1 && name.ends_with(" " + pass)) name.resize(name.size() - pass.size() - 1);
    a.name = name;
    a.kind = args.value("kind", "");
    a.output = args.value("output", "");
    (pass == "backward" ? a.bwd : a.fwd).push_back(e.at("dur").get<double>() / 1e3);
  }
  std::vector<LayerRow> rows;
  for (const auto& [key, a] : acc) {
    rows.push_back({key.first, key.second, a.name, a.kind, a.output,
                    static_cast<int64_t>(std::max(a.fwd.size(), a.bwd.size())), compute_stats(a.fwd).median,
                    compute_stats(a.bwd).median});
  }
  return rows;
}

namespace {
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
std::string ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}
}  // namespace

std::string layers_csv(const std::vector<LayerRow>& rows) {
  std::ostringstream os;
  os << "rank,layer,name,kind,output,steps,forward_ms_median,backward_ms_median\n";
  for (const LayerRow& r : rows) {
    os << r.rank << ',' << r.layer << ',' << csv_field(r.name) << ',' << r.kind << ',' << csv_field(r.output) << ','
       << r.steps << ',' << ms(r.forward_ms) << ',' << ms(r.backward_ms) << '\n';
  }
  return os.str();
}

std::string layers_markdown(const std::vector<LayerRow>& rows, const std::string& run) {
  std::ostringstream os;
  os << "# Per-layer times: " << run << "\n\n"
     << "Median milliseconds per step over the steps after the warm-up, from the `--trace` layer events "
        "(the backend is synchronised after each layer while tracing).\n";
  int rank = -1;
  for (const LayerRow& r : rows) {
    if (r.rank != rank) {
      rank = r.rank;
      os << "\n## Rank " << rank << " (" << r.steps << " steps)\n\n"
         << "| Layer | Output | Forward ms | Backward ms |\n|---|---|---:|---:|\n";
    }
    os << "| " << r.name << " | " << r.output << " | " << ms(r.forward_ms) << " | " << ms(r.backward_ms) << " |\n";
  }
  return os.str();
}

}  // namespace hpcnn::merge
