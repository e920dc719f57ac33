// GPU discovery through the CUDA runtime, cuDNN and cuBLAS (NCCL is comm/nccl/).
// A machine without a device or driver is not an error here: the struct says so.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>
#include <string>

#include "device_info.hpp"

namespace hpcnn::kernels {

namespace {
std::string dotted(int v, int major_div, int minor_div, int minor_mod) {
  return std::to_string(v / major_div) + "." + std::to_string((v / minor_div) % minor_mod);
}
}  // namespace

GpuInfo query_gpu_info() {
  GpuInfo info;
  info.compiled = true;
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) info.runtime_version = dotted(runtime, 1000, 10, 100);
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) info.driver_version = dotted(driver, 1000, 10, 100);
  const size_t cudnn = cudnnGetVersion();
  info.cudnn_version =
      std::to_string(cudnn / 10000) + "." + std::to_string((cudnn / 100) % 100) + "." + std::to_string(cudnn % 100);
  int cublas = 0;
  if (cublasGetProperty(MAJOR_VERSION, &cublas) == CUBLAS_STATUS_SUCCESS) {
    int minor = 0;
    cublasGetProperty(MINOR_VERSION, &minor);
    info.cublas_version = std::to_string(cublas) + "." + std::to_string(minor);
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.status = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error
    return info;
  }
  info.device_count = count;
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    char line[640];  // prop.name is up to 256 bytes
    std::snprintf(line, sizeof line, "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                  static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    info.devices.emplace_back(line);
  }
  if (count == 0) info.status = "no CUDA device";
  return info;
}

}  // namespace hpcnn::kernels
