// Built when the CUDA toolkit was not found: the GPU backend is absent.
#include "device_info.hpp"

namespace hpcnn::kernels {

GpuInfo query_gpu_info() {
  GpuInfo info;
  info.status = "built without the CUDA backend (toolkit not found at configure time)";
  return info;
}

}  // namespace hpcnn::kernels
