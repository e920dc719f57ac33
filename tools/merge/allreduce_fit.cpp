// The cost model fitted from bench CSVs.
#include "allreduce_fit.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "report.hpp"

namespace hpcnn::merge {

namespace {

bool modelled(const std::string& algo) {
  for (comm::AllreduceAlgo a : comm::modelled_algos())
    if (algo == comm::modelled_name(a)) return true;
  return false;
}

comm::Placement placement_of(const BenchRow& r, const comm::CostModel& model) {
  const int nodes = std::max(1, r.nodes);
  comm::Placement where{r.ranks, (r.ranks + nodes - 1) / nodes, true};
  where.nodes_per_switch = model.nodes_per_switch;
  where.nodes_per_leaf = model.leaf_for(nodes);
  where.torus_dims = model.torus_for(nodes);
  where.dragonfly = model.dragonfly_for(nodes);
  where.link_burst_bytes = model.link_burst_bytes;
  where.library_half_duplex = model.library_half_duplex;
  return where;
}

double bus_bw(double bytes, int ranks, double seconds) {
  return seconds > 0 ? bytes / seconds / 1e9 * 2.0 * (ranks - 1) / ranks : 0;
}

std::string size_text(int64_t b) {
  std::ostringstream os;
  if (b >= (int64_t{1} << 20) && b % (int64_t{1} << 20) == 0) {
    os << (b >> 20) << " MiB";
  } else if (b >= 1024 && b % 1024 == 0) {
    os << (b >> 10) << " KiB";
  } else {
    os << b << " B";
  }
  return os.str();
}

/// A parameter as people read it: latency in us, bandwidth terms as GB/s.
std::string param_text(int term, double v) {
  if (v <= 0) return "0";
  if (term == comm::kAlphaInter || term == comm::kAlphaIntra || term == comm::kHop) return fixed(v * 1e6, 2) + " us";
  return fixed(1.0 / v / 1e9, 2) + " GB/s";
}

/// Per algorithm, the time error (predicted / measured - 1) by rank count
/// (rows) and size (columns), and its worst point: where a term is missing the
/// errors line up along a row (a rank count: the topology), a column (a size:
/// latency against bandwidth) or a diagonal.
std::string residual_tables(const AllreduceFit& f) {
  std::ostringstream os;
  os << "\n### Residuals: time error by rank count and size\n";
  for (const AlgoFit& af : f.fits) {
    std::vector<int64_t> sizes;
    std::map<std::pair<int, int>, std::map<int64_t, double>> cells;
    const FitPoint* worst = nullptr;
    for (const FitPoint& p : f.points) {
      if (p.algo != af.algo) continue;
      if (std::find(sizes.begin(), sizes.end(), p.bytes) == sizes.end()) sizes.push_back(p.bytes);
      const double err = p.predicted_us / p.measured_us - 1;
      cells[{p.ranks, p.nodes}][p.bytes] = err;
      if (worst == nullptr || std::fabs(err) > std::fabs(worst->predicted_us / worst->measured_us - 1)) worst = &p;
    }
    if (worst == nullptr) continue;
    std::sort(sizes.begin(), sizes.end());
    os << "\n"
       << af.algo << " (rms " << fixed(af.fit.rms_relative * 100, 1) << " %; worst " << worst->ranks << " ranks, "
       << size_text(worst->bytes) << ": " << fixed((worst->predicted_us / worst->measured_us - 1) * 100, 1)
       << " %)\n\n| ranks | nodes |";
    for (int64_t b : sizes) os << " " << size_text(b) << " |";
    os << "\n| ---: | ---: |";
    for (size_t i = 0; i < sizes.size(); ++i) os << " ---: |";
    os << "\n";
    for (const auto& [where, by_size] : cells) {
      os << "| " << where.first << " | " << where.second << " |";
      for (int64_t b : sizes) {
        const auto it = by_size.find(b);
        const double pct = it == by_size.end() || std::fabs(it->second) < 5e-4 ? 0.0 : it->second * 100;  // no "-0.0"
        os << " " << (it == by_size.end() ? std::string("") : fixed(pct, 1) + " %") << " |";
      }
      os << "\n";
    }
  }
  return os.str();
}

}  // namespace

AllreduceFit fit_allreduce(const std::vector<BenchRow>& rows, const std::string& source, comm::CostModel network) {
  AllreduceFit f;
  f.model = std::move(network);
  f.model.params.clear();
  f.model.source = source;
  std::map<std::string, std::vector<comm::CostSample>> samples;
  std::map<std::string, std::vector<const BenchRow*>> used;
  using Key = std::tuple<int, int, int64_t>;
  std::map<Key, std::map<std::string, double>> times;  // time_us per algo, correct rows only
  for (const BenchRow& r : rows) {
    if (r.wrong > 0 || r.time_us <= 0 || r.ranks < 2) continue;
    times[Key{r.ranks, r.nodes, r.bytes}][r.algo] = r.time_us;
    if (!modelled(r.algo)) continue;
    samples[r.algo].push_back(
        {comm::parse_modelled(r.algo), placement_of(r, f.model), static_cast<double>(r.bytes), r.time_us * 1e-6});
    used[r.algo].push_back(&r);
  }
  for (comm::AllreduceAlgo a : comm::modelled_algos()) {
    const std::string name = comm::modelled_name(a);
    if (samples.count(name) == 0) continue;
    try {
      AlgoFit af{name, comm::fit_cost(a, samples[name])};
      f.model.params[a] = af.fit.params;
      for (const BenchRow* r : used[name]) {
        const double pred =
            comm::predict_seconds(af.fit.params, a, placement_of(*r, f.model), static_cast<double>(r->bytes));
        f.points.push_back({name, r->ranks, r->nodes, r->bytes, r->time_us, pred * 1e6,
                            bus_bw(static_cast<double>(r->bytes), r->ranks, r->time_us * 1e-6),
                            bus_bw(static_cast<double>(r->bytes), r->ranks, pred)});
      }
      f.fits.push_back(af);
    } catch (const Error& e) {
      f.warnings.push_back(cat(name, ": not fitted: ", e.what()));
    }
  }
  std::sort(f.points.begin(), f.points.end(), [](const FitPoint& a, const FitPoint& b) {
    return std::tie(a.algo, a.ranks, a.nodes, a.bytes) < std::tie(b.algo, b.ranks, b.nodes, b.bytes);
  });
  HPCNN_CHECK(!f.fits.empty(), "no algorithm could be fitted (rows of ring, tree, rhd, central, mpi, shm or hier ",
              "on 2 or more ranks, without wrong elements, are needed)");
  for (const auto& [key, by_algo] : times) {
    const auto a = by_algo.find("auto");
    if (a == by_algo.end()) continue;
    AutoPoint p{std::get<0>(key), std::get<1>(key), std::get<2>(key), a->second, 0, ""};
    for (const auto& [algo, us] : by_algo) {
      if (algo != "auto" && (p.best.empty() || us < p.best_us)) {
        p.best = algo;
        p.best_us = us;
      }
    }
    if (!p.best.empty()) f.autos.push_back(p);
  }
  comm::CostModel own = f.model;
  own.params.erase(comm::AllreduceAlgo::kMpi);
  for (const auto& [key, by_algo] : times) {
    if (own.params.empty()) break;
    const int ranks = std::get<0>(key), nodes = std::max(1, std::get<1>(key));
    comm::Placement where{ranks, (ranks + nodes - 1) / nodes, true};
    where.link_burst_bytes = own.link_burst_bytes;  // choose_by_model fills in the rest from the model
    const double bytes = static_cast<double>(std::get<2>(key));
    // Only algorithms measured here compete, so the pick's time is known.
    comm::CostModel here = own;
    for (auto it = here.params.begin(); it != here.params.end();)
      it = by_algo.count(comm::modelled_name(it->first)) ? std::next(it) : here.params.erase(it);
    if (here.params.size() < 2) continue;
    AutoPoint p{ranks, std::get<1>(key), std::get<2>(key), 0, 0, ""};
    try {
      p.auto_us = by_algo.at(comm::modelled_name(comm::choose_by_model(here, where, bytes).algo));
    } catch (const Error&) {
      continue;  // nothing of these runs on this placement
    }
    for (const auto& [algo, params] : here.params) {
      const double us = by_algo.at(comm::modelled_name(algo));
      if (p.best.empty() || us < p.best_us) {
        p.best = comm::modelled_name(algo);
        p.best_us = us;
      }
    }
    f.picks.push_back(p);
  }
  return f;
}

AllreduceFit fit_allreduce(const std::vector<std::filesystem::path>& csv_files, comm::CostModel network) {
  HPCNN_CHECK(!csv_files.empty(), "no bench CSV files given");
  std::vector<BenchRow> rows;
  std::vector<std::string> warnings;
  std::string source;
  for (const auto& path : csv_files) {
    for (const BenchRow& r : parse_bench_csv(read_text_file(path), path.string(), warnings)) rows.push_back(r);
    source += (source.empty() ? "" : " ") + path.filename().string();
  }
  AllreduceFit f = fit_allreduce(rows, cat("hpcnn-merge allreduce --fit ", source), std::move(network));
  f.warnings.insert(f.warnings.begin(), warnings.begin(), warnings.end());
  return f;
}

std::string fit_markdown(const AllreduceFit& f) {
  std::ostringstream os;
  os << "## All-reduce cost model (" << f.model.source << ")\n\n"
     << "time = alpha_inter A_inter + beta_inter B_inter + alpha_intra A_intra + beta_intra B_intra + gamma R\n"
     << "(A: messages, B: bytes over a link, R: bytes reduced, counted per algorithm by src/comm/cost_model.cpp);\n"
     << "least squares on the relative error, parameters >= 0. Bandwidth terms are shown as GB/s (1 / beta).\n"
     << "`-`: no measurement exercises the term; `~`: not separable from the others in these measurements\n"
     << "(folded into them).\n\n| algo | rows |";
  for (int t = 0; t < comm::kCostTerms; ++t) os << " " << comm::cost_term_name(t) << " |";
  os << " rms error | max error |\n| --- | ---: |";
  for (int t = 0; t < comm::kCostTerms; ++t) os << " ---: |";
  os << " ---: | ---: |\n";
  for (const AlgoFit& af : f.fits) {
    os << "| " << af.algo << " | " << af.fit.samples << " |";
    for (int t = 0; t < comm::kCostTerms; ++t) {
      const auto i = static_cast<size_t>(t);
      os << " " << (!af.fit.exercised[i] ? "-" : param_text(t, af.fit.params[t]) + (af.fit.collinear[i] ? " ~" : ""))
         << " |";
    }
    os << " " << fixed(af.fit.rms_relative * 100, 1) << " % | " << fixed(af.fit.max_relative * 100, 1) << " % |\n";
  }
  os << residual_tables(f);
  os << "\n### Predicted against measured busBw (GB/s)\n\n| algo | ranks | nodes | bytes | measured | predicted | time "
        "error |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const FitPoint& p : f.points) {
    os << "| " << p.algo << " | " << p.ranks << " | " << p.nodes << " | " << size_text(p.bytes) << " | "
       << fixed(p.measured_busbw, 3) << " | " << fixed(p.predicted_busbw, 3) << " | "
       << fixed((p.predicted_us / p.measured_us - 1) * 100, 1) << " % |\n";
  }
  auto against_best = [&os](const std::vector<AutoPoint>& points, const std::string& title, const std::string& what) {
    if (points.empty()) return;
    const auto worst = std::max_element(points.begin(), points.end(),
                                        [](const AutoPoint& a, const AutoPoint& b) { return a.slower() < b.slower(); });
    int within = 0;
    for (const AutoPoint& p : points) within += p.slower() <= 0.10;
    os << "\n### " << title << "\n\n"
       << within << " of " << points.size() << " points within 10 % of the best; worst: " << worst->ranks << " ranks, "
       << worst->nodes << " node(s), " << size_text(worst->bytes) << ": " << what << " " << fixed(worst->auto_us, 1)
       << " us, " << worst->best << " " << fixed(worst->best_us, 1) << " us (" << fixed(worst->slower() * 100, 1)
       << " % slower).\n\n"
       << "| ranks | nodes | bytes | " << what << " (us) | best | best (us) | slower by |\n"
       << "| ---: | ---: | ---: | ---: | --- | ---: | ---: |\n";
    for (const AutoPoint& p : points) {
      os << "| " << p.ranks << " | " << p.nodes << " | " << size_text(p.bytes) << " | " << fixed(p.auto_us, 1) << " | "
         << p.best << " | " << fixed(p.best_us, 1) << " | " << fixed(p.slower() * 100, 1) << " % |\n";
    }
  };
  against_best(f.autos, "auto against the best measured algorithm", "auto");
  against_best(f.picks, "This fit's pick among hpcnn's algorithms (mpi left out) against the best of them", "pick");
  os << warnings_markdown(f.warnings);
  return os.str();
}

std::string fit_csv(const AllreduceFit& f) {
  std::ostringstream os;
  os << "algo,ranks,nodes,bytes,measured_us,predicted_us,measured_busbw_gbs,predicted_busbw_gbs\n";
  os.precision(9);
  for (const FitPoint& p : f.points) {
    os << p.algo << "," << p.ranks << "," << p.nodes << "," << p.bytes << "," << p.measured_us << "," << p.predicted_us
       << "," << p.measured_busbw << "," << p.predicted_busbw << "\n";
  }
  return os.str();
}

nlohmann::json fit_json(const AllreduceFit& f) {
  nlohmann::json j = f.model.to_json();
  for (const AlgoFit& af : f.fits) {
    nlohmann::json& entry = j["algorithms"][af.algo];
    entry["rows"] = af.fit.samples;
    entry["rms_relative_error"] = af.fit.rms_relative;
    entry["max_relative_error"] = af.fit.max_relative;
    nlohmann::json not_separable = nlohmann::json::array();
    for (int t = 0; t < comm::kCostTerms; ++t)
      if (af.fit.collinear[static_cast<size_t>(t)]) not_separable.push_back(comm::cost_term_name(t));
    entry["not_separable"] = not_separable;
  }
  if (!f.autos.empty()) {
    nlohmann::json autos = nlohmann::json::array();
    for (const AutoPoint& p : f.autos)
      autos.push_back({{"ranks", p.ranks},
                       {"nodes", p.nodes},
                       {"bytes", p.bytes},
                       {"auto_us", p.auto_us},
                       {"best", p.best},
                       {"best_us", p.best_us}});
    j["auto_vs_best"] = autos;
  }
  nlohmann::json picks = nlohmann::json::array();
  for (const AutoPoint& p : f.picks)
    picks.push_back({{"ranks", p.ranks},
                     {"nodes", p.nodes},
                     {"bytes", p.bytes},
                     {"pick_us", p.auto_us},
                     {"best", p.best},
                     {"best_us", p.best_us}});
  j["pick_vs_best"] = picks;
  return j;
}

}  // namespace hpcnn::merge
