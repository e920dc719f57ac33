// hpcnn info: what this build can do on this machine.
#include <boost/version.hpp>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "comm/communicator.hpp"
#include "comm/nccl/nccl_info.hpp"
#include "core/build_info_access.hpp"
#include "data/h5.hpp"
#include "device_info.hpp"

namespace hpcnn::cli {

int run_info(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn info";
  spec.summary = "Print the build configuration, library versions and the GPUs this process can see.";
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;

  std::cout << "hpcnn        " << version_string() << "\n"
            << "compiler     " << compiler_string() << "\n"
            << "MPI          " << comm::mpi_library_version() << "\n"
            << "HDF5         " << h5::library_version() << "\n"
            << "oneDNN       " << kernels::onednn_version() << "\n"
            << "Boost        " << BOOST_VERSION / 100000 << "." << BOOST_VERSION / 100 % 1000 << "\n";
  const kernels::GpuInfo gpu = kernels::query_gpu_info();
  if (!gpu.compiled) {
    std::cout << "GPU backend  not built: " << gpu.status << "\n";
    return 0;
  }
  std::cout << "GPU backend  CUDA runtime " << gpu.runtime_version << ", cuDNN " << gpu.cudnn_version << ", cuBLAS "
            << gpu.cublas_version << ", NCCL " << comm::nccl_version() << "\n"
            << "CUDA driver  " << (gpu.driver_version.empty() ? "none" : gpu.driver_version) << "\n"
            << "GPUs         " << gpu.device_count;
  if (gpu.device_count == 0) std::cout << " (" << gpu.status << ")";
  std::cout << "\n";
  for (const std::string& d : gpu.devices) std::cout << "             " << d << "\n";
  return 0;
}

}  // namespace hpcnn::cli
