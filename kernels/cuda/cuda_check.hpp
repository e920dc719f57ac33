// Error checks for CUDA runtime calls, shared by the CUDA backend
// (kernels/cuda/) and the NCCL reducer (src/comm/nccl/): a failed call throws
// hpcnn::Error naming the call and CUDA's message.
#pragma once

#include <cuda_runtime.h>

#include "core/error.hpp"

#define HPCNN_CUDA(call)                                                                                         \
  do {                                                                                                           \
    const cudaError_t hpcnn_cuda_err_ = (call);                                                                  \
    if (hpcnn_cuda_err_ != cudaSuccess) HPCNN_THROW("CUDA: ", #call, ": ", cudaGetErrorString(hpcnn_cuda_err_)); \
  } while (0)
