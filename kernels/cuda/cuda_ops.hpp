// The CUDA backend's prepared operations (kernels/cuda/cuda_ops.cu):
// convolutions on cuDNN, dense layers on cuBLAS, batch norm and max pooling
// on hpcnn's kernels (cuda_kernels.hpp), and the device buffer they and the
// backend (cuda_backend.cu) keep their scratch in.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <memory>
#include <utility>

#include "backend.hpp"
#include "cuda/cuda_check.hpp"

#define HPCNN_CUDNN(call) \
  HPCNN_CHECK_CALL(call, cudnnStatus_t, status == CUDNN_STATUS_SUCCESS, cudnnGetErrorString(status))
#define HPCNN_CUBLAS(call) \
  HPCNN_CHECK_CALL(call, cublasStatus_t, status == CUBLAS_STATUS_SUCCESS, cublasGetStatusString(status))

namespace hpcnn::kernels::gpu {

/// A device buffer freed on its stream when dropped: the ops' workspaces and
/// argmax, the backend's loss accumulator and staging scratch.
class Scratch {
 public:
  Scratch() = default;
  Scratch(size_t bytes, cudaStream_t stream) : stream_(stream), bytes_(bytes) {
    if (bytes_ > 0) HPCNN_CUDA(cudaMallocAsync(&p_, bytes_, stream_));
  }
  ~Scratch() {
    if (p_ != nullptr) cudaFreeAsync(p_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&& o) noexcept : p_(o.p_), stream_(o.stream_), bytes_(o.bytes_) { o.p_ = nullptr; }
  Scratch& operator=(Scratch&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(stream_, o.stream_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  cudaStream_t stream_ = nullptr;
  size_t bytes_ = 0;
};

/// cuDNN convolution for one geometry, algorithms chosen once (cuda_ops.cu).
std::unique_ptr<ConvOp> make_conv(cudnnHandle_t dnn, cudaStream_t stream, const ConvGeometry& g, bool allow_tf32);
std::unique_ptr<BatchNormOp> make_batch_norm(cudaStream_t stream, const NormGeometry& g);
std::unique_ptr<PoolOp> make_pool(cudaStream_t stream, const PoolGeometry& g);
/// cuBLAS SGEMM, row-major through the column-major trick.
std::unique_ptr<DenseOp> make_dense(cublasHandle_t blas, cudaStream_t stream, const DenseGeometry& g);

}  // namespace hpcnn::kernels::gpu
