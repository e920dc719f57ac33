// hpcnn bench read: how fast the ranks read a split, through each HDF5 path.
//
// Every rank reads its contiguous block of rows of every shard of the split
// (one file shared by all ranks when the dataset has one shard), in reads of
// --block-rows rows, through:
//   serial            each rank opens the files itself (HDF5's sec2 driver):
//                     what training does
//   mpio-independent  the files opened once by all ranks with the MPI-IO
//                     driver, each rank reading on its own
//   mpio-collective   the same files, reads as MPI-IO collectives (two-phase
//                     I/O may merge the ranks' requests)
//   posix             the same bytes read with read(2) from the files (the
//                     ceiling: what `dd` would see), with no HDF5 at all
// Each mode runs --repeats times, alternated, after one untimed pass that
// warms the page cache (the figures are for warm caches unless the caller
// drops them). Time: slowest rank, barrier to barrier; MB/s = 10^6 bytes.
#include <fcntl.h>
#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "comm/communicator.hpp"
#include "comm/mpi_session.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;

namespace hpcnn::cli {

namespace {
enum class ReadMode { kSerial, kMpioIndependent, kMpioCollective, kPosix };
const char* read_mode_name(ReadMode m) {
  switch (m) {
    case ReadMode::kSerial: return "serial";
    case ReadMode::kMpioIndependent: return "mpio-independent";
    case ReadMode::kMpioCollective: return "mpio-collective";
    case ReadMode::kPosix: return "posix";
  }
  return "?";
}

struct Shard {
  fs::path path;
  int64_t rows = 0;
};

/// Reads this rank's rows of every shard; returns the bytes of sample data read.
int64_t read_pass(ReadMode mode, const std::vector<Shard>& shards, int64_t row_bytes, int64_t block_rows,
                  const comm::Communicator& world) {
  int64_t bytes = 0;
  std::vector<uint8_t> buffer;
  for (const Shard& shard : shards) {
    const auto [lo, hi] = block_range(shard.rows, world.rank(), world.size());
    // Collective reads need the same number of calls on every rank.
    const int64_t most = (shard.rows + world.size() - 1) / world.size();
    const int64_t calls = (most + block_rows - 1) / block_rows;
    buffer.resize(static_cast<size_t>(std::min(block_rows, std::max<int64_t>(hi - lo, 1)) * row_bytes));
    if (mode == ReadMode::kPosix) {
      // The samples dataset is contiguous chunks in the file; reading the
      // rank's share of the file's bytes in the same sizes is the ceiling.
      const int fd = ::open(shard.path.c_str(), O_RDONLY | O_CLOEXEC);
      HPCNN_CHECK(fd >= 0, shard.path.string(), ": cannot open: ", std::strerror(errno));
      const auto size = static_cast<int64_t>(fs::file_size(shard.path));
      const auto [flo, fhi] = block_range(size, world.rank(), world.size());
      const int64_t piece = block_rows * row_bytes;
      buffer.resize(static_cast<size_t>(piece));
      for (int64_t at = flo; at < fhi; at += piece) {
        const ssize_t n = ::pread(fd, buffer.data(), static_cast<size_t>(std::min(piece, fhi - at)), at);
        HPCNN_CHECK(n > 0, shard.path.string(), ": read failed: ", std::strerror(errno));
        bytes += n;
      }
      ::close(fd);
      continue;
    }
    h5::Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    h5::Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
    if (mode != ReadMode::kSerial) {
      HPCNN_CHECK(H5Pset_fapl_mpio(fapl.get(), world.comm(), MPI_INFO_NULL) >= 0, "H5Pset_fapl_mpio failed");
      HPCNN_CHECK(H5Pset_dxpl_mpio(dxpl.get(), mode == ReadMode::kMpioCollective ? H5FD_MPIO_COLLECTIVE
                                                                                 : H5FD_MPIO_INDEPENDENT) >= 0,
                  "H5Pset_dxpl_mpio failed");
    }
    h5::Handle file(H5Fopen(shard.path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
    HPCNN_CHECK(file.valid(), shard.path.string(), ": cannot open with HDF5 (", read_mode_name(mode), ")");
    h5::Handle dset(H5Dopen2(file.get(), "samples", H5P_DEFAULT), H5Dclose);
    HPCNN_CHECK(dset.valid(), shard.path.string(), ": no samples dataset");
    h5::Handle space(H5Dget_space(dset.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    HPCNN_CHECK(rank >= 1 && rank <= 4, shard.path.string(), ": samples of rank ", rank);
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    const h5::Handle type(H5Dget_type(dset.get()), H5Tclose);
    const h5::Handle native(H5Tget_native_type(type.get(), H5T_DIR_ASCEND), H5Tclose);
    for (int64_t c = 0; c < calls; ++c) {
      const int64_t first = lo + c * block_rows;
      const int64_t count = std::clamp<int64_t>(hi - first, 0, block_rows);
      std::vector<hsize_t> start(dims.size(), 0), extent = dims;
      start[0] = static_cast<hsize_t>(first);
      extent[0] = static_cast<hsize_t>(count);
      h5::Handle mem(H5Screate_simple(rank, extent.data(), nullptr), H5Sclose);
      if (count > 0) {
        H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
      } else {
        H5Sselect_none(space.get());
        H5Sselect_none(mem.get());
      }
      HPCNN_CHECK(H5Dread(dset.get(), native.get(), mem.get(), space.get(), dxpl.get(), buffer.data()) >= 0,
                  shard.path.string(), ": H5Dread failed (", read_mode_name(mode), ")");
      bytes += count * row_bytes;
    }
  }
  return bytes;
}
}  // namespace

int run_bench_read(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn bench read";
  spec.summary =
      "Time reading a split's samples on every rank (run under mpirun): HDF5 per-rank opens (serial, what\n"
      "training uses), HDF5 over MPI-IO (independent and collective), and plain read(2) of the same files as\n"
      "the ceiling. Each rank reads its block of rows of every shard; modes alternate over --repeats.";
  spec.details =
      "Examples:\n"
      "  mpirun -n 4 hpcnn bench read --data datasets/solar-maps\n"
      "  mpirun -n 2 hpcnn bench read --data big --modes serial,mpio-collective --repeats 5";
  std::string data_dir = "datasets/fashion-mnist", split = "train", modes_text = "all", csv;
  long long block_rows = data::kBlockRows;
  int repeats = 3;
  // clang-format off
  spec.options.add_options()
      ("data,d", po::value<std::string>(&data_dir)->default_value(data_dir)->value_name("DIR"), "dataset directory")
      ("split", po::value<std::string>(&split)->default_value(split), "split to read")
      ("modes", po::value<std::string>(&modes_text)->default_value(modes_text),
       "comma-separated: serial, mpio-independent, mpio-collective, posix; or all")
      ("block-rows", po::value<long long>(&block_rows)->default_value(block_rows), "rows per read call")
      ("repeats", po::value<int>(&repeats)->default_value(repeats), "timed passes per mode (alternated)")
      ("csv", po::value<std::string>(&csv)->value_name("FILE"), "also write the results as CSV");
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  require_range<long long>("block-rows", block_rows, 1, 1 << 24);
  require_range("repeats", repeats, 1, 1000);
  std::vector<ReadMode> modes;
  for (const std::string& m :
       split_list(modes_text == "all" ? "serial,mpio-independent,mpio-collective,posix" : modes_text, "modes")) {
    bool found = false;
    for (ReadMode r : {ReadMode::kSerial, ReadMode::kMpioIndependent, ReadMode::kMpioCollective, ReadMode::kPosix}) {
      if (m == read_mode_name(r)) {
        modes.push_back(r);
        found = true;
      }
    }
    if (!found)
      throw UsageError("--modes: unknown mode '" + m + "' (serial, mpio-independent, mpio-collective, posix)");
  }
  const data::Manifest manifest = data::load_manifest(data_dir);
  const data::SplitInfo& info = manifest.split(split);
  std::vector<Shard> shards;
  for (const data::ShardInfo& s : info.shards) shards.push_back({fs::path(data_dir) / s.file, s.num_samples});
  const int64_t row_bytes =
      manifest.sample_elements() * static_cast<int64_t>(data::sample_type_size(manifest.sample_type));

  const comm::MpiSession mpi;
  comm::Communicator world(MPI_COMM_WORLD);
  h5::silence_errors();
  std::vector<std::vector<double>> seconds(modes.size());
  std::vector<int64_t> bytes(modes.size(), 0);
  for (size_t m = 0; m < modes.size(); ++m) read_pass(modes[m], shards, row_bytes, block_rows, world);  // warm-up
  for (int r = 0; r < repeats; ++r) {
    for (size_t m = 0; m < modes.size(); ++m) {
      world.barrier();
      const double t0 = MPI_Wtime();
      int64_t b = read_pass(modes[m], shards, row_bytes, block_rows, world);
      double dt = MPI_Wtime() - t0;
      dt = world.max(dt);
      double total = static_cast<double>(b);
      world.sum(&total, 1);
      seconds[m].push_back(dt);
      bytes[m] = static_cast<int64_t>(total);
    }
  }
  if (world.rank() == 0) {
    std::ostringstream out, table;
    out << "# hpcnn bench read: " << world.size() << " rank(s) on " << world.num_nodes() << " node(s), split '" << split
        << "' of " << manifest.name << " (" << info.shards.size() << " shard(s), " << info.num_samples() << " samples, "
        << row_bytes << " bytes each), reads of " << block_rows << " rows, " << repeats
        << " alternated passes after a warm-up (page cache warm), HDF5 " << h5::library_version() << "\n";
    out << std::setw(18) << "mode" << std::setw(14) << "MB" << std::setw(14) << "median s" << std::setw(14)
        << "MB/s total" << std::setw(16) << "MB/s per rank"
        << "\n";
    table << "mode,ranks,nodes,bytes,median_s,mb_per_s_total,mb_per_s_per_rank\n";
    for (size_t m = 0; m < modes.size(); ++m) {
      std::vector<double> s = seconds[m];
      std::sort(s.begin(), s.end());
      const double median = s[s.size() / 2];
      const double mbps = static_cast<double>(bytes[m]) / 1e6 / median;
      out << std::setw(18) << read_mode_name(modes[m]) << std::setw(14) << std::fixed << std::setprecision(1)
          << static_cast<double>(bytes[m]) / 1e6 << std::setw(14) << std::setprecision(4) << median << std::setw(14)
          << std::setprecision(1) << mbps << std::setw(16) << mbps / world.size() << "\n";
      table << read_mode_name(modes[m]) << "," << world.size() << "," << world.num_nodes() << "," << bytes[m] << ","
            << median << "," << mbps << "," << mbps / world.size() << "\n";
    }
    std::cout << out.str() << std::flush;
    if (!csv.empty()) write_file_atomic(csv, table.str());
  }
  return 0;
}

}  // namespace hpcnn::cli
