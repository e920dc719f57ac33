// All-reduce comparison tables from bench CSVs.
#include "allreduce_compare.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <tuple>

#include "comm/allreduce.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "report.hpp"

namespace hpcnn::merge {

namespace {
std::string human_bytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 3 && std::fmod(v, 1024) == 0) {
    v /= 1024;
    ++u;
  }
  std::ostringstream os;
  os << v << " " << units[u];
  return os.str();
}
}  // namespace

std::vector<BenchRow> parse_bench_csv(const std::string& text, const std::string& file,
                                      std::vector<std::string>& warnings) {
  std::istringstream in(text);
  std::string line;
  std::vector<BenchRow> rows;
  HPCNN_CHECK(std::getline(in, line) && line == comm::kBenchCsvHeader, file,
              ": not an `hpcnn bench allreduce --csv` file (expected header \"", comm::kBenchCsvHeader, "\")");
  int64_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    std::istringstream fields(line);
    BenchRow r;
    std::string ranks, nodes, count, bytes, time, alg, bus, wrong;
    bool ok = std::getline(fields, r.algo, ',') && std::getline(fields, ranks, ',') &&
              std::getline(fields, nodes, ',') && std::getline(fields, count, ',') &&
              std::getline(fields, bytes, ',') && std::getline(fields, time, ',') && std::getline(fields, alg, ',') &&
              std::getline(fields, bus, ',') && std::getline(fields, wrong) && !r.algo.empty();
    if (ok) {
      try {
        size_t used = 0;
        auto whole = [&](const std::string& s) {
          if (used != s.size()) throw std::invalid_argument(s);
        };
        r.ranks = std::stoi(ranks, &used), whole(ranks);
        r.nodes = std::stoi(nodes, &used), whole(nodes);
        r.count = std::stoll(count, &used), whole(count);
        r.bytes = std::stoll(bytes, &used), whole(bytes);
        r.time_us = std::stod(time, &used), whole(time);
        r.algbw_gbs = std::stod(alg, &used), whole(alg);
        r.busbw_gbs = std::stod(bus, &used), whole(bus);
        r.wrong = std::stoll(wrong, &used), whole(wrong);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      warnings.push_back(cat(file, ":", number, ": malformed row ignored"));
      continue;
    }
    rows.push_back(r);
  }
  return rows;
}

AllreduceComparison compare_allreduce(const std::vector<std::filesystem::path>& csv_files) {
  HPCNN_CHECK(!csv_files.empty(), "no bench CSV files given");
  AllreduceComparison c;
  using Key = std::tuple<int, int, int64_t>;
  std::map<Key, ComparisonRow> groups;
  for (const auto& path : csv_files) {
    for (const BenchRow& r : parse_bench_csv(read_text_file(path), path.string(), c.warnings)) {
      if (std::find(c.algos.begin(), c.algos.end(), r.algo) == c.algos.end()) c.algos.push_back(r.algo);
      ComparisonRow& g = groups[Key{r.ranks, r.nodes, r.bytes}];
      g.ranks = r.ranks;
      g.nodes = r.nodes;
      g.bytes = r.bytes;
      if (g.by_algo.count(r.algo) != 0) {
        c.warnings.push_back(cat(path.string(), ": ", r.algo, " at ", r.bytes, " B on ", r.ranks,
                                 " ranks measured again: the later row is used"));
      }
      if (r.wrong > 0) {
        c.warnings.push_back(cat(path.string(), ": ", r.algo, " at ", r.bytes, " B on ", r.ranks, " ranks gave ",
                                 r.wrong, " wrong element(s): never chosen as best"));
      }
      g.by_algo[r.algo] = r;
    }
  }
  HPCNN_CHECK(!groups.empty(), "the bench CSV files hold no rows");
  for (auto& [key, g] : groups) {
    double best = -1;
    for (const auto& [algo, r] : g.by_algo) {
      if (r.wrong == 0 && r.busbw_gbs > best) {
        best = r.busbw_gbs;
        g.best = algo;
      }
    }
    const auto mpi = g.by_algo.find("mpi");
    if (!g.best.empty() && mpi != g.by_algo.end() && mpi->second.busbw_gbs > 0) {
      g.best_over_mpi = best / mpi->second.busbw_gbs;
    }
    c.rows.push_back(g);
  }
  return c;
}

std::string comparison_markdown(const AllreduceComparison& c) {
  std::ostringstream os;
  int last_ranks = -1, last_nodes = -1;
  for (const ComparisonRow& g : c.rows) {
    if (g.ranks != last_ranks || g.nodes != last_nodes) {
      os << (last_ranks < 0 ? "" : "\n") << "### " << g.ranks << " ranks, " << g.nodes << " node(s): busBw GB/s\n\n"
         << "| bytes |";
      for (const auto& a : c.algos) os << " " << a << " |";
      os << " best | best / mpi |\n| ---: |";
      for (size_t i = 0; i < c.algos.size(); ++i) os << " ---: |";
      os << " --- | ---: |\n";
      last_ranks = g.ranks;
      last_nodes = g.nodes;
    }
    os << "| " << human_bytes(g.bytes) << " |";
    for (const auto& a : c.algos) {
      const auto it = g.by_algo.find(a);
      if (it == g.by_algo.end()) {
        os << " |";
      } else {
        os << " " << (a == g.best ? "**" : "") << fixed(it->second.busbw_gbs, 3) << (a == g.best ? "**" : "")
           << (it->second.wrong > 0 ? " (wrong)" : "") << " |";
      }
    }
    os << " " << (g.best.empty() ? "-" : g.best) << " | " << (g.best_over_mpi > 0 ? fixed(g.best_over_mpi, 2) : "-")
       << " |\n";
  }
  os << warnings_markdown(c.warnings);
  return os.str();
}

std::string comparison_csv(const AllreduceComparison& c) {
  std::ostringstream os;
  os << std::setprecision(9) << "ranks,nodes,bytes,algo,time_us,algbw_gbs,busbw_gbs,wrong,best\n";
  for (const ComparisonRow& g : c.rows) {
    for (const auto& a : c.algos) {
      const auto it = g.by_algo.find(a);
      if (it == g.by_algo.end()) continue;
      const BenchRow& r = it->second;
      os << g.ranks << ',' << g.nodes << ',' << g.bytes << ',' << a << ',' << r.time_us << ',' << r.algbw_gbs << ','
         << r.busbw_gbs << ',' << r.wrong << ',' << (a == g.best ? 1 : 0) << '\n';
    }
  }
  return os.str();
}

nlohmann::json comparison_json(const AllreduceComparison& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (const ComparisonRow& g : c.rows) {
    nlohmann::json algos = nlohmann::json::object();
    for (const auto& [a, r] : g.by_algo) {
      algos[a] = {{"time_us", r.time_us}, {"algbw_gbs", r.algbw_gbs}, {"busbw_gbs", r.busbw_gbs}, {"wrong", r.wrong}};
    }
    rows.push_back(
        {{"ranks", g.ranks},
         {"nodes", g.nodes},
         {"bytes", g.bytes},
         {"algos", algos},
         {"best", g.best.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.best)},
         {"best_over_mpi", g.best_over_mpi > 0 ? nlohmann::json(g.best_over_mpi) : nlohmann::json(nullptr)}});
  }
  return {{"format", "hpcnn-merge-allreduce"},
          {"version", 1},
          {"algos", c.algos},
          {"rows", rows},
          {"warnings", c.warnings}};
}

}  // namespace hpcnn::merge
