// hpcnn bench allreduce: compare gradient-exchange algorithms the way
// nccl-tests does. For each size: warm-up, then timed iterations; the time is
// averaged over ranks; algBw = bytes / time, busBw = algBw * 2(p-1)/p (the
// bandwidth each link would need for a ring to take that long); #wrong counts
// wrong elements of a separate checked run with integer-valued inputs.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "backend.hpp"
#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "comm/allreduce.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/mpi_session.hpp"
#include "core/byte_size.hpp"
#include "core/check.hpp"
#include "core/fs.hpp"

namespace hpcnn::cli {

namespace {
/// The practical ceiling of an all-reduce on one node: every byte must at
/// least be read and written once, so no algorithm's busBw beats a memcpy of
/// the same size made by every rank of the node at once. Measured here (best
/// of 5 after a warm-up) and printed in the header.
std::string memory_ceiling_line(comm::Communicator& world, int64_t bytes) {
  const auto n = static_cast<size_t>(std::max<int64_t>(bytes, 4096));
  std::vector<char> src(n, 1), dst(n, 0);
  double best = 1e30;
  for (int rep = 0; rep < 6; ++rep) {
    world.barrier();
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst.data(), src.data(), n);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::min(best, t);
  }
  const double worst_best = world.max(best);  // the slowest rank's best copy
  std::ostringstream line;
  line << "# memory ceiling: memcpy of " << n << " bytes at " << std::fixed << std::setprecision(2)
       << static_cast<double>(n) / worst_best / 1e9 << " GB/s per rank with the " << world.node_size()
       << " rank(s) of a node copying at once (no all-reduce's busBw can beat it on one node)\n";
  return line.str();
}
}  // namespace

int run_bench_allreduce(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn bench allreduce";
  spec.summary =
      "Time all-reduce algorithms over message sizes (run under mpirun). Per size: count, bytes, time\n"
      "averaged over ranks, algBw, busBw = algBw * 2(p-1)/p, and #wrong from a checked run.";
  spec.details =
      "Examples:\n"
      "  mpirun -n 4 hpcnn bench allreduce --algo all\n"
      "  mpirun -n 2 hpcnn bench allreduce --algo ring,shm,mpi --sizes 17.4M --iters 50\n"
      "  mpirun -n 4 hpcnn bench allreduce --algo hier --ranks-per-node 2   # pretend 2 nodes";
  std::string algo_text = "all", min_text = "8", max_text = "64M", sizes_text, csv;
  int iters = 20, warmup = 5, ranks_per_node = 0;
  double factor = 4.0;
  // clang-format off
  spec.options.add_options()
      ("algo,a", po::value<std::string>(&algo_text)->default_value(algo_text),
       "comma-separated algorithms, or all (the host ones): ring, tree, rhd, central, mpi, shm, hier, auto; "
       "nccl (GPU buffers, one GPU per rank)")
      ("min-bytes,b", po::value<std::string>(&min_text)->default_value(min_text), "smallest message")
      ("max-bytes,e", po::value<std::string>(&max_text)->default_value(max_text), "largest message")
      ("step-factor,f", po::value<double>(&factor)->default_value(factor), "size multiplier between steps")
      ("sizes", po::value<std::string>(&sizes_text)->value_name("S,S,..."), "explicit sizes instead of the sweep")
      ("iters,n", po::value<int>(&iters)->default_value(iters), "timed iterations per size")
      ("warmup,w", po::value<int>(&warmup)->default_value(warmup), "untimed iterations first")
      ("ranks-per-node", po::value<int>(&ranks_per_node)->default_value(0),
       "pretend nodes of this many consecutive ranks (0: real nodes)")
      ("csv", po::value<std::string>(&csv)->value_name("FILE"), "also write the table as CSV");
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  require_range("iters", iters, 1, 1000000);
  require_range("warmup", warmup, 0, 1000000);
  require_range("ranks-per-node", ranks_per_node, 0, 1 << 20);
  require_range("step-factor", factor, 1.01, 1024.0);
  std::vector<comm::AllreduceAlgo> algos;
  if (algo_text == "all") {
    algos = comm::all_allreduce_algos();
  } else {
    for (const std::string& a : split_list(algo_text, "algo")) algos.push_back(comm::parse_allreduce(a));
  }
  std::vector<int64_t> sizes;
  if (!sizes_text.empty()) {
    for (const std::string& s : split_list(sizes_text, "sizes")) sizes.push_back(parse_byte_size(s, "sizes"));
  } else {
    const int64_t lo = std::max<int64_t>(parse_byte_size(min_text, "min-bytes"), 4);
    const int64_t hi = parse_byte_size(max_text, "max-bytes");
    if (hi < lo) throw UsageError("--max-bytes is smaller than --min-bytes");
    for (double b = static_cast<double>(lo); b <= static_cast<double>(hi) * 1.0000001; b *= factor) {
      sizes.push_back(static_cast<int64_t>(b));
    }
  }

  const comm::MpiSession mpi;
  comm::Communicator world(MPI_COMM_WORLD, ranks_per_node);
  const int p = world.size();
  // NCCL reduces GPU buffers: one GPU per rank (the node-local rank picks it),
  // through the gradient reducer training uses (its 1 MiB blocks).
  std::unique_ptr<kernels::Backend> gpu;
  if (std::find(algos.begin(), algos.end(), comm::AllreduceAlgo::kNccl) != algos.end()) {
    kernels::BackendOptions options;
    options.local_rank = world.node_rank();
    gpu = kernels::make_backend(kernels::BackendKind::kCuda, options);
  }
  // Without real nodes, shm over pretend nodes is impossible: skip it with a note.
  std::ostringstream table;
  table << "# hpcnn bench allreduce: " << p << " ranks, " << world.num_nodes() << " node(s) of " << world.node_size()
        << (ranks_per_node > 0 ? " (pretend)" : "") << ", " << iters << " iterations after " << warmup
        << " warm-up, float32 sum\n"
        << memory_ceiling_line(world, *std::max_element(sizes.begin(), sizes.end())) << std::setw(8) << "algo"
        << std::setw(13) << "count" << std::setw(13) << "bytes" << std::setw(12) << "time(us)" << std::setw(11)
        << "algBw" << std::setw(11) << "busBw" << std::setw(8) << "#wrong"
        << "\n"
        << std::setw(8) << "" << std::setw(13) << "(floats)" << std::setw(13) << "" << std::setw(12) << ""
        << std::setw(11) << "(GB/s)" << std::setw(11) << "(GB/s)"
        << "\n";
  std::ostringstream csv_text;
  csv_text << comm::kBenchCsvHeader << "\n";
  if (world.rank() == 0) std::cout << table.str() << std::flush;
  table.str("");
  for (comm::AllreduceAlgo algo : algos) {
    if (algo == comm::AllreduceAlgo::kShm && world.num_nodes() > 1) {
      if (world.rank() == 0)
        std::cout << std::setw(8) << "shm"
                  << "  skipped: ranks span " << world.num_nodes() << " nodes\n";
      continue;
    }
    for (int64_t bytes : sizes) {
      const int64_t count = bytes / 4;
      std::vector<float> data(static_cast<size_t>(std::max<int64_t>(count, 1)), 0.0f);
      const bool nccl = algo == comm::AllreduceAlgo::kNccl;
      float* device = nccl ? gpu->allocate(count) : nullptr;
      std::unique_ptr<comm::GradientReducer> reducer;
      if (nccl) reducer = comm::make_nccl_reducer(world, *gpu, device, count);
      const auto reduce_once = [&] {
        if (!nccl) return comm::allreduce(world, algo, data.data(), count);
        reducer->start(0, count);
        reducer->wait();
        gpu->synchronize();
      };
      // Checked run: rank r contributes (r + 1) * (i % 7); integers add exactly.
      for (int64_t i = 0; i < count; ++i)
        data[static_cast<size_t>(i)] = static_cast<float>((world.rank() + 1) * (i % 7));
      if (nccl) gpu->upload(device, data.data(), count);
      reduce_once();
      if (nccl) gpu->download(data.data(), device, count);
      long long wrong = 0;
      const double ranks_sum = p * (p + 1) / 2.0;
      for (int64_t i = 0; i < count; ++i)
        wrong += data[static_cast<size_t>(i)] != static_cast<float>(ranks_sum * static_cast<double>(i % 7));
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG_LONG, MPI_SUM, world.comm()));
      std::fill(data.begin(), data.end(), 0.0f);
      if (nccl) gpu->fill(device, 0.0f, count);
      for (int i = 0; i < warmup; ++i) reduce_once();
      MPI_CHECK(MPI_Barrier(world.comm()));
      const double t0 = MPI_Wtime();
      for (int i = 0; i < iters; ++i) reduce_once();
      double seconds = (MPI_Wtime() - t0) / iters;
      reducer.reset();
      if (nccl) gpu->release(device);
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_SUM, world.comm()));
      seconds /= p;
      const double real_bytes = static_cast<double>(count) * 4.0;
      const double alg = real_bytes / seconds / 1e9;
      const double bus = alg * 2.0 * (p - 1) / p;
      if (world.rank() == 0) {
        std::cout << std::setw(8) << comm::allreduce_name(algo) << std::setw(13) << count << std::setw(13) << count * 4
                  << std::setw(12) << std::fixed << std::setprecision(1) << seconds * 1e6 << std::setw(11)
                  << std::setprecision(3) << alg << std::setw(11) << bus << std::setw(8) << wrong << "\n"
                  << std::flush;
        csv_text << comm::allreduce_name(algo) << "," << p << "," << world.num_nodes() << "," << count << ","
                 << count * 4 << "," << seconds * 1e6 << "," << alg << "," << bus << "," << wrong << "\n";
      }
    }
  }
  if (world.rank() == 0 && !csv.empty()) write_file_atomic(csv, csv_text.str());
  return 0;
}

}  // namespace hpcnn::cli
