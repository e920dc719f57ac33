// The host functions that queue hpcnn's own CUDA kernels on a stream
// (kernels/cuda/cuda_kernels.cu): what the CUDA ops (cuda_ops.cu) and the
// backend (cuda_backend.cu) call instead of launching kernels themselves.
// Pointers are device memory; each queues nothing when its element count
// is <= 0, and throws hpcnn::Error naming the kernel when a launch fails.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend.hpp"

namespace hpcnn::kernels::gpu {

/// The loss accumulator kept on the device until Backend::read_loss.
struct DeviceLoss {
  double loss_sum;
  long long correct;
};

void fill(cudaStream_t s, float* dst, float value, int64_t n);
void relu(cudaStream_t s, const float* src, float* dst, int64_t n);
/// dx = dy where y > 0, else 0.
void relu_grad(cudaStream_t s, const float* y, const float* dy, float* dx, int64_t n);
void multiply(cudaStream_t s, const float* a, const float* b, float* dst, int64_t n);
/// y = x * mask over n samples of per_sample elements; samples (N) device memory.
void dropout(cudaStream_t s, const float* x, float* y, int64_t n, int64_t per_sample, const int64_t* samples,
             const DropoutParams& d);
void adam(cudaStream_t s, float* p, const float* g, float* m, float* v, int64_t n, const AdamStep& step);
void sgd(cudaStream_t s, float* p, const float* g, float* velocity, int64_t n, float lr, float momentum);

/// Per-row loss and correct count into row_loss / row_correct (n each),
/// then added in index order to *acc, as the host does.
void softmax_cross_entropy(cudaStream_t s, const float* logits, const int32_t* labels, int64_t n, int64_t k,
                           float scale, float* diff, double* row_loss, long long* row_correct, DeviceLoss* acc);
/// Likewise per element of (N, T), count = N * T.
void squared_error(cudaStream_t s, const float* pred, const float* target, int64_t count, int64_t t, float scale,
                   float* diff, double* element_loss, long long* element_correct, DeviceLoss* acc);

/// dst (N, C, P) += bias[c]; P = 1 for dense.
void add_bias(cudaStream_t s, float* dst, const float* bias, int64_t n, int64_t c, int64_t plane);
/// diff_bias[c] = sum over N, P of diff (N, C, P), by maths::tree_sum's tree.
void bias_grad(cudaStream_t s, const float* diff, float* diff_bias, int64_t n, int64_t c, int64_t plane);

/// dst (planes, PH, PW) = src (planes, IH, IW) placed at (top, left), zeros around.
void pad(cudaStream_t s, const float* src, float* dst, int64_t planes, int64_t ih, int64_t iw, int64_t top,
         int64_t left, int64_t ph, int64_t pw);
/// dst (planes, IH, IW) = the (top, left) window of padded (planes, PH, PW).
void crop(cudaStream_t s, const float* padded, float* dst, int64_t planes, int64_t ih, int64_t iw, int64_t top,
          int64_t left, int64_t ph, int64_t pw);

// The MobileNet layers (kernels/host_layers.cpp, the same arithmetic).
void relu6(cudaStream_t s, const float* src, float* dst, int64_t n);
void relu6_grad(cudaStream_t s, const float* y, const float* dy, float* dx, int64_t n);
void add(cudaStream_t s, const float* a, const float* b, float* dst, int64_t n);
/// dst (planes) = mean of each plane of `size` elements.
void global_avg_pool(cudaStream_t s, const float* src, float* dst, int64_t planes, int64_t size);
void global_avg_pool_grad(cudaStream_t s, const float* dy, float* dx, int64_t planes, int64_t size);
/// The batch's mean and 1 / std per channel; moves the running statistics.
void batch_norm_stats(cudaStream_t s, const float* src, const NormGeometry& g, float* mean, float* inv_std,
                      float* running_mean, float* running_var);
/// The running statistics as (mean, 1 / std) per channel, for inference.
void batch_norm_running(cudaStream_t s, const NormGeometry& g, const float* running_mean, const float* running_var,
                        float* mean, float* inv_std);
void batch_norm_normalize(cudaStream_t s, const float* src, float* dst, const NormGeometry& g, const float* mean,
                          const float* inv_std, const float* gamma, const float* beta);
/// diff_gamma, diff_beta and diff_src (dx may be null).
void batch_norm_backward(cudaStream_t s, const float* src, const float* dy, const float* gamma, const NormGeometry& g,
                         const float* mean, const float* inv_std, float* dx, float* dgamma, float* dbeta);

/// Max pooling; argmax (N, C, OH, OW) keeps each window's winner for the gradient.
void max_pool(cudaStream_t s, const float* src, float* dst, int64_t* argmax, const PoolGeometry& g);
void max_pool_grad(cudaStream_t s, const float* diff_dst, const int64_t* argmax, float* diff_src,
                   const PoolGeometry& g);

}  // namespace hpcnn::kernels::gpu
