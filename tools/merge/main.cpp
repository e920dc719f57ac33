// hpcnn-merge: turns run directories and bench CSVs into tables, JSON and
// merged traces. Subcommands: summary, scaling, allreduce (see --help).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "allreduce_compare.hpp"
#include "allreduce_fit.hpp"
#include "cli/options.hpp"
#include "core/build_info_access.hpp"
#include "core/byte_size.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "layers.hpp"
#include "report.hpp"
#include "scaling.hpp"
#include "summary.hpp"

namespace fs = std::filesystem;
using hpcnn::cat;
namespace cli = hpcnn::cli;
namespace merge = hpcnn::merge;
namespace po = boost::program_options;

namespace {

void print_warnings(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) std::cerr << "hpcnn-merge: warning: " << w << "\n";
}

/// Writes each (name, contents) atomically into `out` and says where.
/// Every target is checked before the first is written: --out must be a
/// directory (or absent) and no file in it a device, FIFO or directory (the
/// atomic rename would replace one, as `train --checkpoint /dev/null` did).
void write_outputs(const fs::path& out, const std::vector<std::pair<std::string, std::string>>& files, bool quiet) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec)) && !fs::is_directory(out, ec)) {
    throw hpcnn::UsageError("--out " + out.string() + ": exists and is not a directory");
  }
  for (const auto& file : files) hpcnn::check_output_path("--out", out / file.first, {}, {});
  fs::create_directories(out);
  for (const auto& [name, contents] : files) hpcnn::write_file_atomic(out / name, contents);
  if (!quiet) {
    std::cerr << "hpcnn-merge: wrote";
    for (const auto& file : files) std::cerr << " " << (out / file.first).string();
    std::cerr << "\n";
  }
}

/// The end of every command: the files, the Markdown report on stdout, the
/// warnings on stderr; returns the exit status (1 for warnings under --strict).
int report(const fs::path& out, const std::vector<std::pair<std::string, std::string>>& files,
           const std::vector<std::string>& warnings, bool quiet, bool strict) {
  write_outputs(out, files, quiet);
  std::cout << files.front().second;
  print_warnings(warnings);
  if (strict && !warnings.empty()) {
    std::cerr << "hpcnn-merge: error: " << warnings.size() << " warning(s) and --strict was given\n";
    return 1;
  }
  return 0;
}

int run_summary(const std::vector<std::string>& args) {
  cli::CommandSpec spec;
  spec.name = "hpcnn-merge summary";
  spec.summary =
      "Summarise one training run directory (hpcnn train --out DIR): per phase over ranks and steps\n"
      "mean/median/p95/max, step time as the slowest rank per step, throughput, communication\n"
      "fraction and load imbalance. Writes summary.md, summary.csv, summary.json and trace.json\n"
      "(all ranks in one Chrome trace), for a run trained with --trace also layers.md and layers.csv\n"
      "(median forward/backward ms per layer and rank), and prints the Markdown table. Missing or cut-off rank\n"
      "files are reported as warnings naming them; only complete steps every rank finished count.";
  spec.positional_usage = "RUN_DIR";
  spec.details = "Example:\n  hpcnn-merge summary results/runs/keras-cnn-20261123-101500\n";
  std::string run_dir, out;
  int64_t warmup = 1;
  bool strict = false, no_trace = false;
  // clang-format off
  spec.options.add_options()
      ("run", po::value<std::string>(&run_dir)->required()->value_name("RUN_DIR"), "run directory (positional)")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"), "output directory (default RUN_DIR/merged)")
      ("warmup", po::value<int64_t>(&warmup)->default_value(1)->value_name("N"),
       "leading steps left out of the statistics (kept when nothing else remains)")
      ("no-trace", po::bool_switch(&no_trace), "do not write the merged trace.json")
      ("strict", po::bool_switch(&strict), "exit 1 when there is any warning");
  // clang-format on
  spec.positional.add("run", 1);
  cli::CommonConfig common;
  if (!cli::parse(spec, args, common)) return 0;
  cli::require_range<int64_t>("warmup", warmup, 0, 1'000'000'000);
  const fs::path out_dir = out.empty() ? fs::path(run_dir) / "merged" : fs::path(out);

  const merge::RunTimings run = merge::load_run(run_dir);
  const merge::RunSummary s = merge::summarize(run, {warmup});
  std::vector<std::pair<std::string, std::string>> files{{"summary.md", merge::summary_markdown(s)},
                                                         {"summary.csv", merge::summary_csv(s)},
                                                         {"summary.json", merge::json_text(merge::summary_json(s))}};
  std::vector<std::string> warnings = s.warnings;
  const std::vector<nlohmann::json> layer_events = merge::load_layer_events(run, warnings);
  if (!no_trace) files.emplace_back("trace.json", merge::json_text(merge::merged_trace(run, layer_events), -1));
  if (!layer_events.empty()) {
    const std::vector<merge::LayerRow> rows = merge::layer_summary(layer_events, warmup);
    files.emplace_back("layers.md", merge::layers_markdown(rows, run_dir));
    files.emplace_back("layers.csv", merge::layers_csv(rows));
  }
  return report(out_dir, files, warnings, common.quiet, strict);
}

int run_scaling(const std::vector<std::string>& args) {
  cli::CommandSpec spec;
  spec.name = "hpcnn-merge scaling";
  spec.summary =
      "Speed-up and parallel efficiency of several runs of one model on different rank counts,\n"
      "against the run with the fewest ranks. --strong: the global batch stays fixed (train with\n"
      "--global-batch); --weak: the per-rank batch stays fixed (train with --batch). Writes\n"
      "scaling.md, scaling.csv and scaling.json (plot with tools/plot/hpcnn_plot.py scaling).";
  spec.positional_usage = "RUN_DIR...";
  spec.details =
      "Example:\n  hpcnn-merge scaling --strong results/runs/strong-np1 results/runs/strong-np2 --out results/study\n";
  std::vector<std::string> runs;
  std::string out;
  int64_t warmup = 1;
  bool strong = false, weak = false, strict = false;
  // clang-format off
  spec.options.add_options()
      ("runs", po::value<std::vector<std::string>>(&runs)->required()->multitoken()->value_name("RUN_DIR"),
       "run directories (positional)")
      ("strong", po::bool_switch(&strong), "strong scaling (fixed global batch)")
      ("weak", po::bool_switch(&weak), "weak scaling (fixed per-rank batch)")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"),
       "output directory (default: scaling-strong or scaling-weak beside the first run)")
      ("warmup", po::value<int64_t>(&warmup)->default_value(1)->value_name("N"),
       "leading steps of each run left out")
      ("strict", po::bool_switch(&strict), "exit 1 when there is any warning");
  // clang-format on
  spec.positional.add("runs", -1);
  cli::CommonConfig common;
  if (!cli::parse(spec, args, common)) return 0;
  if (strong == weak) throw hpcnn::UsageError("give exactly one of --strong and --weak");
  cli::require_range<int64_t>("warmup", warmup, 0, 1'000'000'000);
  const merge::ScalingMode mode = strong ? merge::ScalingMode::kStrong : merge::ScalingMode::kWeak;
  const fs::path out_dir = !out.empty() ? fs::path(out)
                                        : fs::path(runs[0]).lexically_normal().parent_path() /
                                              cat("scaling-", merge::scaling_mode_name(mode));
  std::vector<merge::RunSummary> summaries;
  for (const std::string& r : runs) summaries.push_back(merge::summarize(merge::load_run(r), {warmup}));
  const merge::ScalingStudy study = merge::scaling_study(summaries, mode);
  return report(out_dir,
                {{"scaling.md", merge::scaling_markdown(study)},
                 {"scaling.csv", merge::scaling_csv(study)},
                 {"scaling.json", merge::json_text(merge::scaling_json(study))}},
                study.warnings, common.quiet, strict);
}

int run_allreduce(const std::vector<std::string>& args) {
  cli::CommandSpec spec;
  spec.name = "hpcnn-merge allreduce";
  spec.summary =
      "Compare all-reduce algorithms from one or more `hpcnn bench allreduce --csv` files: busBw of\n"
      "every algorithm per rank count and message size, the best correct one and its ratio to\n"
      "MPI_Allreduce. Writes allreduce.md, allreduce.csv (long form) and allreduce.json\n"
      "(plot with tools/plot/hpcnn_plot.py allreduce).";
  spec.positional_usage = "CSV...";
  spec.details =
      "Examples:\n  hpcnn-merge allreduce results/allreduce/np2-sweep.csv results/allreduce/np4-sweep.csv\n"
      "  hpcnn-merge allreduce --fit results/sim/fit-fattree-100g/np*.csv --out results/sim/fit-fattree-100g\n";
  std::vector<std::string> csvs;
  std::string out;
  std::string fattree_leaf, link_burst;
  bool strict = false, fit = false, torus = false, dragonfly = false, half_duplex = false;
  int nodes_per_switch = 0;
  // clang-format off
  spec.options.add_options()
      ("csv", po::value<std::vector<std::string>>(&csvs)->required()->multitoken()->value_name("CSV"),
       "bench CSV files (positional)")
      ("fit", po::bool_switch(&fit),
       "fit the cost model (src/comm/cost_model.hpp) per algorithm instead: parameters, residuals,\n"
       "predicted against measured busBw, auto against the best; writes fit.md, fit.csv and\n"
       "cost_model.json (HPCNN_COST_MODEL=cost_model.json makes auto use it)")
      ("fattree-leaf", po::value<std::string>(&fattree_leaf)->value_name("N|sqrt"),
       "with --fit: the measurements ran on a two-level fat-tree of N nodes a leaf (sqrt: ceil(sqrt(nodes)),\n"
       "as tools/sim/platform.py builds one per run), so rhd's shared up-links and the hops between\n"
       "leaves are counted (Placement::nodes_per_leaf); the model keeps it")
      ("nodes-per-switch", po::value<int>(&nodes_per_switch)->value_name("N"),
       "with --fit: N consecutive nodes share one switch's link to another switch (a dragonfly's router),\n"
       "so rhd's and mpi's far steps carry N times the bytes (CostModel::nodes_per_switch); the model keeps it")
      ("link-burst", po::value<std::string>(&link_burst)->value_name("BYTES"),
       "with --fit: every node link is shaped by a token bucket this deep each way (tools/cluster's\n"
       "tc tbf burst: 256KiB), so tree's and central's phases, which use one direction then the other,\n"
       "count less (Placement::link_burst_bytes); N, NKiB or NMiB; the model keeps it")
      ("library-half-duplex", po::bool_switch(&half_duplex),
       "with --fit: the MPI library's exchanges between nodes of messages above its eager limit (512 KiB,\n"
       "tools/cluster's) move one direction at a time (Open MPI's TCP BTL on the lab), so the mpi\n"
       "algorithm's steps between nodes count both directions' bytes (Placement::library_half_duplex;\n"
       "other algorithms unchanged); the model keeps it")
      ("torus", po::bool_switch(&torus),
       "with --fit: the measurements ran on 3-D tori as tools/sim/platform.py builds one per run\n"
       "(sides from the cube root of the nodes), so far partners' hops and shared links are counted")
      ("dragonfly", po::bool_switch(&dragonfly),
       "with --fit: the measurements ran on dragonflies as tools/sim/platform.py builds one per run\n"
       "(4 nodes a router, 2 chassis a group), so each step's flows on the routes SimGrid takes between\n"
       "routers, chassis and groups are counted (CostModel::dragonfly_platform); the model keeps it")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"),
       "output directory (default: allreduce-comparison, with --fit allreduce-fit, beside the first CSV)")
      ("strict", po::bool_switch(&strict), "exit 1 when there is any warning");
  // clang-format on
  spec.positional.add("csv", -1);
  cli::CommonConfig common;
  if (!cli::parse(spec, args, common)) return 0;
  const fs::path out_dir = !out.empty() ? fs::path(out)
                                        : fs::path(csvs[0]).lexically_normal().parent_path() /
                                              (fit ? "allreduce-fit" : "allreduce-comparison");
  std::vector<fs::path> paths(csvs.begin(), csvs.end());
  if (fit) {
    hpcnn::comm::CostModel network;  // the measured network's settings
    network.nodes_per_switch = nodes_per_switch;
    network.torus_cbrt = torus;
    network.dragonfly_platform = dragonfly;
    network.library_half_duplex = half_duplex;
    if (!link_burst.empty()) {
      network.link_burst_bytes = static_cast<double>(hpcnn::parse_byte_size(link_burst, "link-burst"));
    }
    if (!fattree_leaf.empty()) {
      char* end = nullptr;
      const long n = std::strtol(fattree_leaf.c_str(), &end, 10);
      if (fattree_leaf == "sqrt") {
        network.fattree_leaf = -1;
      } else if (*end == '\0' && n >= 1 && n <= 1 << 20) {
        network.fattree_leaf = static_cast<int>(n);
      } else {
        throw hpcnn::UsageError(hpcnn::cat("--fattree-leaf '", fattree_leaf, "': expected a number of nodes or sqrt"));
      }
    }
    const merge::AllreduceFit f = merge::fit_allreduce(paths, std::move(network));
    return report(out_dir,
                  {{"fit.md", merge::fit_markdown(f)},
                   {"fit.csv", merge::fit_csv(f)},
                   {"cost_model.json", merge::json_text(merge::fit_json(f))}},
                  f.warnings, common.quiet, strict);
  }
  const merge::AllreduceComparison c = merge::compare_allreduce(paths);
  return report(out_dir,
                {{"allreduce.md", merge::comparison_markdown(c)},
                 {"allreduce.csv", merge::comparison_csv(c)},
                 {"allreduce.json", merge::json_text(merge::comparison_json(c))}},
                c.warnings, common.quiet, strict);
}

void print_usage(std::ostream& os) {
  os << "Usage: hpcnn-merge <command> [options]     (hpcnn-merge <command> --help for details)\n\n"
     << "hpcnn-merge " << hpcnn::version_string() << " — timing summaries and scaling studies\n\nCommands:\n"
     << "  summary RUN_DIR                  one run: phases, step time, throughput, comm fraction, imbalance\n"
     << "  scaling --strong|--weak RUN...   speed-up and efficiency over rank counts\n"
     << "  allreduce CSV...                 all-reduce algorithms compared from bench CSVs\n"
     << "  allreduce --fit CSV...           the all-reduce cost model fitted to bench CSVs\n"
     << "  version                          print the version and exit\n";
}

int dispatch(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "summary") return run_summary(rest);
  if (args[0] == "scaling") return run_scaling(rest);
  if (args[0] == "allreduce") return run_allreduce(rest);
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "hpcnn-merge " << hpcnn::version_string() << "\n";
    return 0;
  }
  throw hpcnn::UsageError(cat("unknown command '", args[0], "' (try hpcnn-merge --help)"));
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const hpcnn::UsageError& e) {
    std::cerr << "hpcnn-merge: usage error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hpcnn-merge: error: " << e.what() << "\n";
    return 1;
  }
}
