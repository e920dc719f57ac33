// Option groups several commands share, each declared once with one help
// text and one range: the compute options (--backend, --threads, --precision,
// --gpu) of the commands that run a model, and --shards of the commands that
// write a dataset. (Kept out of cli/options, which hpcnn-merge links without
// the kernels that name the backends.)
#pragma once

#include <string>

#include "cli/options.hpp"

namespace hpcnn::cli {

/// The values of the compute group; their initial values are the defaults shown.
struct ComputeOptions {
  std::string backend = "onednn";
  int threads = 0;
  std::string precision = "fp32";
  int gpu = -1;
};

/// Which of the compute group a command takes (a bit set).
enum ComputeOption : unsigned { kBackendOption = 1, kThreadsOption = 2, kPrecisionOption = 4, kGpuOption = 8 };
inline constexpr unsigned kAllComputeOptions = kBackendOption | kThreadsOption | kPrecisionOption | kGpuOption;

/// Declares the `which` options of the compute group, bound to `values`.
void add_compute_options(po::options_description& options, ComputeOptions& values, unsigned which);

/// Throws UsageError naming the option when a value of the group is out of
/// range or not a backend / precision name.
void check_compute_options(const ComputeOptions& values, unsigned which);

/// Declares --shards (shard files per split), bound to `shards` (default 1).
void add_shards_option(po::options_description& options, int& shards);

/// Throws UsageError unless 1 <= shards <= 65536.
void check_shards(int shards);

}  // namespace hpcnn::cli
