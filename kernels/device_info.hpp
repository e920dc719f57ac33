// What compute the process can use: library versions and GPUs.
//
// Plain C++: callers never see CUDA or oneDNN headers. The GPU query is
// compiled from kernels/cuda/gpu_info.cu when the toolkit is found and from
// gpu_info_none.cpp otherwise; the struct is the same either way.
#pragma once

#include <string>
#include <vector>

namespace hpcnn::kernels {

struct GpuInfo {
  bool compiled = false;        ///< built with the CUDA backend
  int device_count = 0;         ///< 0 when no device or no driver
  std::string runtime_version;  ///< CUDA runtime, "13.0"
  std::string driver_version;   ///< "" when no driver
  std::string cudnn_version;
  std::string cublas_version;
  std::vector<std::string> devices;  ///< "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
  std::string status;                ///< why there is no device, when there is none
};

GpuInfo query_gpu_info();

/// "2.6.3 (cpu runtime OMP, isa ...)".
std::string onednn_version();

}  // namespace hpcnn::kernels
