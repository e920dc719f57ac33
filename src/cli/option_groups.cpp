// Option groups shared by several commands (see option_groups.hpp).
#include "cli/option_groups.hpp"

#include "backend.hpp"

namespace hpcnn::cli {

namespace {
constexpr int kMaxThreads = 4096;
constexpr int kMaxGpu = 1023;
constexpr int kMaxShards = 65536;
}  // namespace

void add_compute_options(po::options_description& options, ComputeOptions& values, unsigned which) {
  static const std::string backend_help = kernels::backend_choices();
  static const std::string threads_help =
      cat("compute threads (0: OMP_NUM_THREADS or all cores) (0..", kMaxThreads, ")");
  static const std::string gpu_help =
      cat("cuda: the GPU of this rank (-1: the rank's index on its node modulo the visible GPUs) (-1..", kMaxGpu, ")");
  auto add = options.add_options();
  if ((which & kThreadsOption) != 0) {
    add("threads,t", po::value<int>(&values.threads)->default_value(values.threads), threads_help.c_str());
  }
  if ((which & kBackendOption) != 0) {
    add("backend", po::value<std::string>(&values.backend)->default_value(values.backend), backend_help.c_str());
  }
  if ((which & kPrecisionOption) != 0) {
    add("precision", po::value<std::string>(&values.precision)->default_value(values.precision),
        "convolution arithmetic: fp32 (default, bit-reproducible) | bf16 (onednn on CPUs with AVX512-BF16 or AMX; "
        "weights, optimizer and dense layers stay fp32)");
  }
  if ((which & kGpuOption) != 0) {
    add("gpu", po::value<int>(&values.gpu)->default_value(values.gpu), gpu_help.c_str());
  }
}

void check_compute_options(const ComputeOptions& values, unsigned which) {
  if ((which & kThreadsOption) != 0) require_range("threads", values.threads, 0, kMaxThreads);
  if ((which & kGpuOption) != 0) require_range("gpu", values.gpu, -1, kMaxGpu);
  if ((which & kBackendOption) != 0) kernels::parse_backend(values.backend);
  if ((which & kPrecisionOption) != 0) kernels::parse_precision(values.precision);
}

void add_shards_option(po::options_description& options, int& shards) {
  static const std::string help = cat("shard files per split (1..", kMaxShards, ")");
  options.add_options()("shards", po::value<int>(&shards)->default_value(shards), help.c_str());
}

void check_shards(int shards) { require_range("shards", shards, 1, kMaxShards); }

}  // namespace hpcnn::cli
