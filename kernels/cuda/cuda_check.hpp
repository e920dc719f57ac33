// Checked CUDA runtime calls, shared by the CUDA backend (kernels/cuda/) and
// the NCCL reducer (src/comm/nccl/): an alias of core/check.hpp's
// HPCNN_CHECK_CALL, like MPI_CHECK and H5_CHECK, so a failed call throws
// hpcnn::Error naming the call and CUDA's message. The cuDNN, cuBLAS and NCCL
// aliases sit beside their only users.
#pragma once

#include <cuda_runtime.h>

#include "core/check.hpp"

#define HPCNN_CUDA(call) HPCNN_CHECK_CALL(call, cudaError_t, status == cudaSuccess, cudaGetErrorString(status))
