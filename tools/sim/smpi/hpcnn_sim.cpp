// hpcnn-sim: `hpcnn bench allreduce` for SimGrid SMPI (docs/simulation.md).
// Runs the real host all-reduce algorithms of src/comm/mpi/ on a simulated
// platform (smpirun -platform ... -hostfile ...), checks each result against
// the exact integer sum (#wrong, from a separate checked run, as bench
// allreduce does) and prints the same table: time is simulated time averaged
// over ranks, algBw = bytes / time, busBw = algBw * 2(p-1)/p.
//
// Above 64 ranks (or with --shared on) every rank's message buffer is one
// SMPI_SHARED_MALLOC block: memory stays that of one rank, the timing is the
// same, but the ranks overwrite each other's data, so #wrong is not checked.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/communicator.hpp"
#include "comm/cost_model.hpp"
#include "core/byte_size.hpp"
#include "core/check.hpp"
#include "core/error.hpp"
#include "sim_support.hpp"

namespace {

using hpcnn::parse_byte_size;
using hpcnn::UsageError;
namespace comm = hpcnn::comm;

/// Ranks up to which every rank holds its own buffers (checked results).
/// 64 ranks of 17.4 MB each (data + scratch) stay near 2.5 GB.
constexpr int kPrivateBuffersUpTo = 64;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int parse_int(const std::string& text, const char* option, int lo, int hi) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < lo || v > hi)
    throw UsageError(std::string("--") + option + ": expected an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got '" + text + "'");
  return static_cast<int>(v);
}

constexpr const char* kUsage =
    "usage: smpirun [smpirun options] hpcnn-sim [--algo all|A,B,..] [--sizes S,S,..] [--iters N] [--warmup N]\n"
    "                 [--ranks-per-node N] [--shared auto|on|off] [--pacing block|poll] [--csv FILE]\n"
    "  --algo            ring, tree, rhd, central, mpi, shm, hier, auto, or all (default all)\n"
    "  --sizes           message sizes in bytes, K/M/G binary units (default 4K,256K,17.4M)\n"
    "  --iters/--warmup  timed and untimed iterations per size (default 5 and 1)\n"
    "  --ranks-per-node  pretend nodes of this many consecutive ranks (default 0: a node is a simulated host)\n"
    "  --shared          SMPI_SHARED_MALLOC message buffers: timing only, #wrong not checked\n"
    "                    (default auto: above 64 ranks)\n"
    "  --pacing          waits across nodes: block in MPI_Waitany (default; the fastest to simulate) or\n"
    "                    poll (test, spin, then sleep, as hpcnn on a real cluster)\n"
    "  --csv FILE        also write the table as CSV (the columns of hpcnn bench allreduce --csv;\n                    "
    "wrong -1: not checked)\n";

struct Options {
  std::vector<comm::AllreduceAlgo> algos = comm::all_allreduce_algos();
  std::vector<int64_t> sizes{4096, 256 * 1024, static_cast<int64_t>(17.4 * 1024 * 1024)};
  int iters = 5, warmup = 1, ranks_per_node = 0;
  std::string shared = "auto", pacing = "block", csv;
  bool help = false;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    if (i + 1 >= argc) throw UsageError("option '" + arg + "' needs a value (or is unknown); see --help");
    const std::string value = argv[++i];
    if (arg == "--algo" || arg == "-a") {
      o.algos.clear();
      if (value == "all") {
        o.algos = comm::all_allreduce_algos();
      } else {
        for (const std::string& a : split(value)) {
          const comm::AllreduceAlgo algo = comm::parse_allreduce(a);
          if (algo == comm::AllreduceAlgo::kNccl) throw UsageError("--algo nccl: GPU buffers are not simulated");
          o.algos.push_back(algo);
        }
      }
    } else if (arg == "--sizes") {
      o.sizes.clear();
      for (const std::string& s : split(value)) o.sizes.push_back(parse_byte_size(s, "sizes", 4));
    } else if (arg == "--iters" || arg == "-n") {
      o.iters = parse_int(value, "iters", 1, 100000);
    } else if (arg == "--warmup" || arg == "-w") {
      o.warmup = parse_int(value, "warmup", 0, 100000);
    } else if (arg == "--ranks-per-node") {
      o.ranks_per_node = parse_int(value, "ranks-per-node", 0, 1 << 20);
    } else if (arg == "--shared") {
      if (value != "auto" && value != "on" && value != "off")
        throw UsageError("--shared: expected auto, on or off, got '" + value + "'");
      o.shared = value;
    } else if (arg == "--pacing") {
      if (value != "block" && value != "poll")
        throw UsageError("--pacing: expected block or poll, got '" + value + "'");
      o.pacing = value;
    } else if (arg == "--csv") {
      o.csv = value;
    } else {
      throw UsageError("unknown option '" + arg + "'; see --help");
    }
  }
  if (o.algos.empty() || o.sizes.empty()) throw UsageError("--algo and --sizes need at least one entry");
  return o;
}

/// Why SimGrid cannot run `algo` on `world` (auto: what it picks for
/// `count` floats), or "" when it can.
std::string refusal(comm::AllreduceAlgo algo, const comm::Communicator& world, int64_t count) {
  if (algo == comm::AllreduceAlgo::kAuto) {
    const std::string why = refusal(comm::choose_allreduce(world, count), world, count);
    return why.empty()
               ? why
               : std::string("picks ") + comm::allreduce_name(comm::choose_allreduce(world, count)) + ", " + why;
  }
  if (algo == comm::AllreduceAlgo::kShm && world.num_nodes() > 1)
    return "skipped: ranks span " + std::to_string(world.num_nodes()) + " nodes";
  // Measured with SimGrid 3.32 (docs/simulation.md): MPI_Win_allocate_shared
  // gives every rank its own memory and MPI_Win_sync is "not yet
  // implemented", so the node's ranks never see each other's slots: shm and
  // hier returned wrong sums (#wrong 898776 of 1048576 floats on 4 ranks).
  if ((algo == comm::AllreduceAlgo::kShm || algo == comm::AllreduceAlgo::kHier) && world.node_size() > 1)
    return "refused: SimGrid SMPI does not share MPI-3 windows between ranks (MPI_Win_allocate_shared, "
           "MPI_Win_sync), which its intra-node step needs";
  return "";
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  hpcnn::sim::set_block_remote_waits(o.pacing == "block");
  // MPI_COMM_WORLD itself, not a duplicate: nothing else talks on it here, and
  // under SMPI a new communicator of p ranks costs O(p^2) (Communicator's
  // constructor; results/sim/scale-1024-4096.txt).
  comm::Communicator world(MPI_COMM_WORLD, o.ranks_per_node, /*duplicate=*/false);
  const int p = world.size(), me = world.rank();
  if (o.help) {
    if (me == 0) std::cout << kUsage;
    return 0;
  }
  const bool shared = o.shared == "on" || (o.shared == "auto" && p > kPrivateBuffersUpTo);
  const int64_t max_bytes = *std::max_element(o.sizes.begin(), o.sizes.end());
  std::ostringstream csv_text;
  csv_text << comm::kBenchCsvHeader << "\n";
  if (me == 0) {
    std::cout << "# hpcnn-sim (SimGrid SMPI): " << p << " simulated ranks, " << world.num_nodes() << " node(s) of "
              << world.node_size() << (o.ranks_per_node > 0 ? " (pretend)" : "") << ", " << o.iters
              << " iterations after " << o.warmup << " warm-up, float32 sum; time is simulated\n"
              << "# waits across nodes: "
              << (o.pacing == "block" ? "blocking (MPI_Waitany)" : "polled (test, spin, sleep, as on a real cluster)")
              << "\n";
    if (std::find(o.algos.begin(), o.algos.end(), comm::AllreduceAlgo::kAuto) != o.algos.end())
      std::cout << "# auto: the algorithm the cost model predicts fastest; model: " << comm::process_cost_model().source
                << "\n";
    if (shared)
      std::cout << "# buffers: shared between ranks (SMPI_SHARED_MALLOC"
                << (o.shared == "auto" ? ", above 64 ranks" : "") << "): timing only, #wrong not checked (-)\n";
    else
      std::cout << "# buffers: one per rank, real data, #wrong checked against the exact sum\n";
    std::cout << std::setw(8) << "algo" << std::setw(13) << "count" << std::setw(13) << "bytes" << std::setw(12)
              << "time(us)" << std::setw(11) << "algBw" << std::setw(11) << "busBw" << std::setw(8) << "#wrong"
              << "\n"
              << std::setw(8) << "" << std::setw(13) << "(floats)" << std::setw(13) << "" << std::setw(12) << ""
              << std::setw(11) << "(GB/s)" << std::setw(11) << "(GB/s)"
              << "\n"
              << std::flush;
  }
  const int64_t max_count = std::max<int64_t>(max_bytes / 4, 1);
  float* data = nullptr;
  std::vector<float> own;
  if (shared) {
    data = static_cast<float*>(SMPI_SHARED_MALLOC(static_cast<size_t>(max_count) * sizeof(float)));
  } else {
    own.assign(static_cast<size_t>(max_count), 0.0f);
    data = own.data();
  }
  for (comm::AllreduceAlgo algo : o.algos) {
    for (int64_t bytes : o.sizes) {
      const int64_t count = bytes / 4;
      const std::string why = refusal(algo, world, count);
      if (!why.empty()) {
        if (me == 0)
          std::cout << std::setw(8) << comm::allreduce_name(algo) << std::setw(13) << count << "  " << why << "\n"
                    << std::flush;
        continue;
      }
      if (algo == comm::AllreduceAlgo::kAuto && me == 0) {
        const nlohmann::json choice = comm::auto_choice_json(world, count);
        std::cout << "# auto picks " << choice["algo"].get<std::string>() << " for " << count * 4
                  << " bytes (predicted " << std::fixed << std::setprecision(1) << choice["predicted_us"].get<double>()
                  << " us)\n";
      }
      long long wrong = -1;
      if (!shared) {
        // Checked run: rank r contributes (r + 1) * (i % 7); integers add exactly.
        for (int64_t i = 0; i < count; ++i) data[i] = static_cast<float>((me + 1) * (i % 7));
        comm::allreduce(world, algo, data, count);
        wrong = 0;
        const double ranks_sum = p * (p + 1) / 2.0;
        for (int64_t i = 0; i < count; ++i)
          wrong += data[i] != static_cast<float>(ranks_sum * static_cast<double>(i % 7));
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG_LONG, MPI_SUM, world.comm()));
        std::fill(data, data + count, 0.0f);
      }
      for (int i = 0; i < o.warmup; ++i) comm::allreduce(world, algo, data, count);
      world.barrier();
      const double t0 = MPI_Wtime();
      for (int i = 0; i < o.iters; ++i) comm::allreduce(world, algo, data, count);
      double seconds = (MPI_Wtime() - t0) / o.iters;
      world.sum(&seconds, 1);
      seconds /= p;
      const double real_bytes = static_cast<double>(count) * 4.0;
      const double alg = real_bytes / seconds / 1e9, bus = alg * 2.0 * (p - 1) / p;
      if (me == 0) {
        std::cout << std::setw(8) << comm::allreduce_name(algo) << std::setw(13) << count << std::setw(13) << count * 4
                  << std::setw(12) << std::fixed << std::setprecision(1) << seconds * 1e6 << std::setw(11)
                  << std::setprecision(3) << alg << std::setw(11) << bus << std::setw(8)
                  << (wrong < 0 ? std::string("-") : std::to_string(wrong)) << "\n"
                  << std::flush;
        csv_text << comm::allreduce_name(algo) << "," << p << "," << world.num_nodes() << "," << count << ","
                 << count * 4 << "," << seconds * 1e6 << "," << alg << "," << bus << "," << wrong
                 << "\n";  // -1: not checked (docs/formats.md)
      }
    }
  }
  if (shared) SMPI_SHARED_FREE(data);
  if (me == 0 && !o.csv.empty()) {
    std::ofstream out(o.csv);
    out << csv_text.str();
    if (!out) throw hpcnn::Error("cannot write " + o.csv, __FILE__, __LINE__);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0, rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    code = run(argc, argv);
  } catch (const UsageError& e) {
    // Every rank parses the same command line: one of them says what is wrong.
    if (rank == 0) std::cerr << "hpcnn-sim: " << e.what() << "\n";
    code = 2;
  } catch (const std::exception& e) {
    std::cerr << "hpcnn-sim: " << e.what() << "\n";
    code = 1;
  }
  // A usage error is every rank's (they all parse the same command line):
  // they finish together. Any other error may be one rank's alone: it
  // returns without MPI_Finalize, and smpirun fails with its code (under
  // SimGrid 3.32, MPI_Abort made smpirun exit 0).
  if (code == 1) return code;
  MPI_Finalize();
  return code;
}
