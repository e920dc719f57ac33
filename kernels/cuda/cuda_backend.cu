// The CUDA backend: one GPU per rank, one compute stream with the cuDNN and
// cuBLAS handles bound to it, memory from the stream-ordered allocator.
//
//   conv          cuDNN, NCHW float, algorithms chosen once per shape among
//                 the deterministic ones, no TF32 unless --allow-tf32
//   dense         cuBLAS SGEMM (row-major through the column-major trick),
//                 FP32 (CUBLAS_DEFAULT_MATH) unless --allow-tf32
//   the rest      hpcnn's own kernels over kernels/common/maths.hpp, the very
//                 functions the CPU backends run (compiled with --fmad=false:
//                 bitwise the host's results)
//
// cuDNN API: the legacy convolution API (cudnnConvolutionForward and
// friends). cuDNN 9 deprecates it in favour of the graph API but still ships
// and supports it; its deprecation warnings only appear when
// CUDNN_WARN_DEPRECATED is defined, which this build does not. The graph API
// would take a frontend library (not in the toolkit) or several hundred lines
// of backend descriptors for the same three calls; revisit when a cuDNN
// release drops the legacy API.
//
// Determinism: every kernel here writes each output from one thread in a
// fixed order (no atomics); bias gradients, batch-norm sums and global
// average pooling sum by maths::tree_sum's fixed tree, a block per
// channel; the loss runs in one thread in index order; cuDNN is restricted
// to algorithms it reports as deterministic, cuBLAS's SGEMM is deterministic
// for a fixed configuration.
//
// This file compiles and links on every machine with the toolkit; it runs
// only where a GPU is present (tools/gpu/verify.sh, tests/gpu).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backend.hpp"
#include "common/maths.hpp"
#include "core/error.hpp"
#include "cuda/conv_algo_choice.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/launch_config.hpp"

namespace hpcnn::kernels {

namespace {

#define HPCNN_CUDNN(call) \
  HPCNN_CHECK_CALL(call, cudnnStatus_t, status == CUDNN_STATUS_SUCCESS, cudnnGetErrorString(status))
#define HPCNN_CUBLAS(call) \
  HPCNN_CHECK_CALL(call, cublasStatus_t, status == CUBLAS_STATUS_SUCCESS, cublasGetStatusString(status))

// Every launch's grid comes from launch_config.hpp, which checks CUDA's limits.

// ---- element-wise kernels (the shared maths) --------------------------------

__global__ void fill_kernel(float* dst, float value, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = value;
}
__global__ void relu_kernel(const float* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = maths::relu(src[i]);
}
__global__ void relu_grad_kernel(const float* y, const float* dy, float* dx, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dx[i] = maths::relu_grad(y[i], dy[i]);
}
__global__ void multiply_kernel(const float* a, const float* b, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = a[i] * b[i];
}
__global__ void dropout_kernel(const float* x, float* y, int64_t n, int64_t per_sample, const int64_t* samples,
                               uint64_t layer_key, uint32_t threshold, float keep_scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n * per_sample) return;
  const int64_t s = i / per_sample, e = i % per_sample;
  const uint64_t key = maths::dropout_sample_key(layer_key, samples[s]);
  y[i] = x[i] * maths::dropout_mask_value(key, e, threshold, keep_scale);
}
__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamStep s) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) maths::adam_one(p[i], g[i], m[i], v[i], s.lr_t, s.beta1, s.beta2, s.epsilon);
}
__global__ void sgd_kernel(float* p, const float* g, float* velocity, int64_t n, float lr, float momentum) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) maths::sgd_one(p[i], g[i], velocity[i], lr, momentum);
}

// ---- losses: one row (or element) per thread, then a fixed-order sum --------

struct DeviceLoss {
  double loss_sum;
  long long correct;
};

__global__ void softmax_xent_kernel(const float* logits, const int32_t* labels, int64_t n, int64_t k, float scale,
                                    float* diff, double* row_loss, long long* row_correct) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  double loss = 0.0;
  int64_t correct = 0;
  maths::softmax_cross_entropy_row(logits + i * k, k, labels[i], scale, diff + i * k, &loss, &correct);
  row_loss[i] = loss;
  row_correct[i] = correct;
}
__global__ void squared_error_kernel(const float* pred, const float* target, int64_t count, int64_t t, float scale,
                                     float* diff, double* element_loss, long long* element_correct) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  element_loss[i] = maths::squared_error_one(pred[i], target[i], t, scale, diff + i);
  element_correct[i] = 0;
}
/// Adds the per-row losses in index order, as the host does, into the
/// accumulator (one thread: the rows are few; the order is what matters).
__global__ void accumulate_loss_kernel(const double* loss, const long long* correct, int64_t n, DeviceLoss* acc) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  for (int64_t i = 0; i < n; ++i) {
    acc->loss_sum += loss[i];
    acc->correct += correct[i];
  }
}

// ---- bias: add to rows / planes, and its gradient as fixed-order sums -------

/// dst (N, C, P) += bias[c]; P = 1 for dense.
__global__ void add_bias_kernel(float* dst, const float* bias, int64_t n, int64_t c, int64_t plane) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n * c * plane) dst[i] += bias[(i / plane) % c];
}
/// The fold of maths::tree_sum done by one block of maths::kTreeLanes
/// threads: every thread passes its lane's sum and gets the total.
__device__ double block_tree_fold(double* lanes, double lane_sum) {
  const int lane = static_cast<int>(threadIdx.x);
  lanes[lane] = lane_sum;
  __syncthreads();
  for (int s = maths::kTreeLanes / 2; s > 0; s /= 2) {
    if (lane < s) lanes[lane] += lanes[lane + s];
    __syncthreads();
  }
  const double total = lanes[0];
  __syncthreads();  // lanes is reused by the next fold
  return total;
}

/// diff_bias[c] = sum over N, P of diff (N, C, P): one block of
/// maths::kTreeLanes threads per channel, summed by maths::tree_sum's fixed
/// tree (issue 33.7: one thread per channel left the GPU idle), so the result
/// is the host function's, bitwise. Launched with gridDim.x = C.
__global__ void bias_grad_kernel(const float* diff, float* diff_bias, int64_t n, int64_t c, int64_t plane) {
  __shared__ double lanes[maths::kTreeLanes];
  const int64_t ch = blockIdx.x;
  const int lane = static_cast<int>(threadIdx.x);
  const auto at = [=](int64_t i) { return diff[((i / plane) * c + ch) * plane + i % plane]; };
  lanes[lane] = maths::tree_lane_sum(at, n * plane, lane);
  __syncthreads();
  for (int s = maths::kTreeLanes / 2; s > 0; s /= 2) {
    if (lane < s) lanes[lane] += lanes[lane + s];
    __syncthreads();
  }
  if (lane == 0) diff_bias[ch] = static_cast<float>(lanes[0]);
}

// ---- explicit zero padding (for what cuDNN's symmetric padding cannot say) ---------

/// dst (planes, PH, PW) = src (planes, IH, IW) placed at (top, left), zeros around.
__global__ void pad_kernel(const float* src, float* dst, int64_t planes, int64_t ih, int64_t iw, int64_t top,
                           int64_t left, int64_t ph, int64_t pw) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= planes * ph * pw) return;
  const int64_t plane = i / (ph * pw), y = (i / pw) % ph - top, x = i % pw - left;
  dst[i] = y >= 0 && y < ih && x >= 0 && x < iw ? src[(plane * ih + y) * iw + x] : 0.0f;
}
/// dst (planes, IH, IW) = the (top, left) window of padded (planes, PH, PW).
__global__ void crop_kernel(const float* padded, float* dst, int64_t planes, int64_t ih, int64_t iw, int64_t top,
                            int64_t left, int64_t ph, int64_t pw) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= planes * ih * iw) return;
  const int64_t plane = i / (ih * iw), y = (i / iw) % ih, x = i % iw;
  dst[i] = padded[(plane * ph + y + top) * pw + x + left];
}

// ---- the MobileNet layers (kernels/host_layers.cpp, the same arithmetic) ----------

__global__ void relu6_kernel(const float* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = maths::relu6(src[i]);
}
__global__ void relu6_grad_kernel(const float* y, const float* dy, float* dx, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dx[i] = maths::relu6_grad(y[i], dy[i]);
}
__global__ void add_kernel(const float* a, const float* b, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = a[i] + b[i];
}
/// One block per plane, summing by maths::tree_sum's tree (issue 33.7).
__global__ void gap_kernel(const float* src, float* dst, int64_t planes, int64_t size) {
  __shared__ double lanes[maths::kTreeLanes];
  const int64_t p = blockIdx.x;
  const auto at = [=](int64_t i) { return src[p * size + i]; };
  const double sum = block_tree_fold(lanes, maths::tree_lane_sum(at, size, static_cast<int>(threadIdx.x)));
  if (threadIdx.x == 0) dst[p] = static_cast<float>(sum / static_cast<double>(size));
}
__global__ void gap_grad_kernel(const float* dy, float* dx, int64_t planes, int64_t size) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < planes * size) dx[i] = static_cast<float>(static_cast<double>(dy[i / size]) / static_cast<double>(size));
}
/// Batch statistics: one block per channel, two sums by maths::tree_sum's
/// tree in double (issue 33.7); moves the running statistics
/// (NormGeometry::momentum).
__global__ void bn_stats_kernel(const float* src, NormGeometry g, float* mean_out, float* inv_std_out,
                                float* running_mean, float* running_var) {
  __shared__ double lanes[maths::kTreeLanes];
  const int64_t c = blockIdx.x;
  const int lane = static_cast<int>(threadIdx.x);
  const int64_t hw = g.h * g.w, m = g.n * hw;
  const auto x = [=](int64_t i) { return src[((i / hw) * g.c + c) * hw + i % hw]; };
  const double mean = block_tree_fold(lanes, maths::tree_lane_sum(x, m, lane)) / static_cast<double>(m);
  const auto sq = [=](int64_t i) { return maths::bn_square_term(x(i), mean); };
  const double var = block_tree_fold(lanes, maths::tree_lane_sum(sq, m, lane)) / static_cast<double>(m);
  if (lane != 0) return;
  const auto mean_f = static_cast<float>(mean);
  mean_out[c] = mean_f;
  inv_std_out[c] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(g.epsilon)));
  running_mean[c] = g.momentum * running_mean[c] + (1.0f - g.momentum) * mean_f;
  running_var[c] = g.momentum * running_var[c] + (1.0f - g.momentum) * static_cast<float>(var);
}
/// The running statistics as (mean, 1 / std) per channel, for inference.
__global__ void bn_running_kernel(NormGeometry g, const float* running_mean, const float* running_var, float* mean_out,
                                  float* inv_std_out) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= g.c) return;
  mean_out[c] = running_mean[c];
  inv_std_out[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + g.epsilon));
}
__global__ void bn_normalize_kernel(const float* src, float* dst, NormGeometry g, const float* mean,
                                    const float* inv_std, const float* gamma, const float* beta) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= g.n * g.c * g.h * g.w) return;
  const int64_t c = (i / (g.h * g.w)) % g.c;
  const float scale = gamma[c] * inv_std[c];
  dst[i] = (src[i] - mean[c]) * scale + beta[c];
}
/// One block per channel: diff_beta and diff_gamma by maths::tree_sum's
/// tree (issue 33.7), then diff_src (may be null) by the block's threads.
__global__ void bn_backward_kernel(const float* src, const float* dy, const float* gamma, NormGeometry g,
                                   const float* mean_in, const float* inv_std_in, float* dx, float* dgamma,
                                   float* dbeta) {
  __shared__ double lanes[maths::kTreeLanes];
  const int64_t c = blockIdx.x;
  const int lane = static_cast<int>(threadIdx.x);
  const int64_t hw = g.h * g.w, m = g.n * hw;
  const float mean = mean_in[c], inv_std = inv_std_in[c];
  const auto at = [=](int64_t i) { return ((i / hw) * g.c + c) * hw + i % hw; };
  const auto dyv = [=](int64_t i) { return dy[at(i)]; };
  const auto dgt = [=](int64_t i) { return maths::bn_dgamma_term(dy[at(i)], src[at(i)], mean, inv_std); };
  const double db = block_tree_fold(lanes, maths::tree_lane_sum(dyv, m, lane));
  const double dg = block_tree_fold(lanes, maths::tree_lane_sum(dgt, m, lane));
  if (lane == 0) {
    dbeta[c] = static_cast<float>(db);
    dgamma[c] = static_cast<float>(dg);
  }
  if (dx == nullptr) return;
  const double k = static_cast<double>(gamma[c]) * inv_std / static_cast<double>(m);
  for (int64_t i = lane; i < m; i += maths::kTreeLanes) {
    dx[at(i)] = maths::bn_diff_src(dy[at(i)], src[at(i)], mean, inv_std, k, static_cast<double>(m), db, dg);
  }
}

// ---- max pooling ------------------------------------------------------------------

__global__ void pool_forward_kernel(const float* src, float* dst, int64_t* argmax, PoolGeometry g) {
  const int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t out_plane = g.oh * g.ow;
  if (o >= g.n * g.c * out_plane) return;
  const int64_t plane = o / out_plane, r = o % out_plane, oh = r / g.ow, ow = r % g.ow;
  int64_t at = 0;
  dst[o] = maths::max_pool_window(src + plane * g.ih * g.iw, g.iw, oh * g.stride, ow * g.stride, g.kernel, &at);
  argmax[o] = at;
}
/// One thread per input element gathers, in increasing output order, the
/// gradients of the windows whose winner it is: the host's scatter order,
/// without atomics.
__global__ void pool_backward_kernel(const float* diff_dst, const int64_t* argmax, float* diff_src, PoolGeometry g) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t in_plane = g.ih * g.iw;
  if (i >= g.n * g.c * in_plane) return;
  const int64_t plane = i / in_plane, pos = i % in_plane, ih = pos / g.iw, iw = pos % g.iw;
  // Windows covering (ih, iw): oh in [ceil((ih - k + 1) / s), floor(ih / s)], likewise ow.
  const int64_t oh0 = ih >= g.kernel ? (ih - g.kernel) / g.stride + 1 : 0;
  const int64_t oh1 = ih / g.stride < g.oh - 1 ? ih / g.stride : g.oh - 1;
  const int64_t ow0 = iw >= g.kernel ? (iw - g.kernel) / g.stride + 1 : 0;
  const int64_t ow1 = iw / g.stride < g.ow - 1 ? iw / g.stride : g.ow - 1;
  float acc = 0.0f;
  for (int64_t oh = oh0; oh <= oh1; ++oh)
    for (int64_t ow = ow0; ow <= ow1; ++ow) {
      const int64_t o = (plane * g.oh + oh) * g.ow + ow;
      if (argmax[o] == pos) acc += diff_dst[o];
    }
  diff_src[i] = acc;
}

// ---- the backend ----------------------------------------------------------------

class CudaBackend;

/// A device buffer owned by an op (workspaces, argmax).
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

class CudaConv final : public ConvOp {
 public:
  CudaConv(cudnnHandle_t dnn, cudaStream_t stream, const ConvGeometry& g, bool allow_tf32)
      : dnn_(dnn), stream_(stream), g_(g) {
    // A constructor that throws runs no destructor: release what was made (issue 33.8).
    try {
      HPCNN_CHECK(!g.src_private && !g.dst_private && !g.relu, "cuda: conv options this backend does not offer");
      HPCNN_CUDNN(cudnnCreateTensorDescriptor(&src_));
      HPCNN_CUDNN(cudnnCreateTensorDescriptor(&dst_));
      HPCNN_CUDNN(cudnnCreateFilterDescriptor(&w_));
      HPCNN_CUDNN(cudnnCreateConvolutionDescriptor(&conv_));
      // cuDNN pads symmetrically; TensorFlow's "same" padding with an odd total
      // pads one more at the bottom/right (tiny-cnn's 2x2 kernels). Such a conv
      // pads its input explicitly into a scratch tensor and runs unpadded.
      explicit_pad_ = g.pad_top != g.pad_bottom || g.pad_left != g.pad_right;
      ph_ = g.ih + (explicit_pad_ ? g.pad_top + g.pad_bottom : 0);
      pw_ = g.iw + (explicit_pad_ ? g.pad_left + g.pad_right : 0);
      if (explicit_pad_) {
        const size_t bytes = static_cast<size_t>(g.n * g.ic * ph_ * pw_) * sizeof(float);
        padded_ = Scratch(bytes, stream_);
        padded_diff_ = Scratch(bytes, stream_);
      }
      HPCNN_CUDNN(cudnnSetTensor4dDescriptor(src_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(g.n),
                                             static_cast<int>(g.ic), static_cast<int>(ph_), static_cast<int>(pw_)));
      HPCNN_CUDNN(cudnnSetTensor4dDescriptor(dst_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(g.n),
                                             static_cast<int>(g.oc), static_cast<int>(g.oh), static_cast<int>(g.ow)));
      HPCNN_CUDNN(cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, static_cast<int>(g.oc),
                                             static_cast<int>(g.ic / g.groups), static_cast<int>(g.kh),
                                             static_cast<int>(g.kw)));
      const int64_t pad_h = explicit_pad_ ? 0 : g.pad_top, pad_w = explicit_pad_ ? 0 : g.pad_left;
      HPCNN_CUDNN(cudnnSetConvolution2dDescriptor(conv_, static_cast<int>(pad_h), static_cast<int>(pad_w),
                                                  static_cast<int>(g.stride), static_cast<int>(g.stride), 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
      // Grouped and depthwise convolutions: filters (OC, IC / groups, KH, KW).
      HPCNN_CUDNN(cudnnSetConvolutionGroupCount(conv_, static_cast<int>(g.groups)));
      // TF32 is CUDNN_DEFAULT_MATH (cuDNN 9: "Tensor Core ops are permitted" on
      // FP32 data); CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, which main 9f91d3b
      // set, also permits down-conversion to FP16 (issue 33.6). Without
      // --allow-tf32: CUDNN_FMA_MATH, FP32 FMA only.
      HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
      choose_algorithms(allow_tf32);
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaConv() override { release(); }

  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    const float one = 1.0f, zero = 0.0f;
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, fwd_math_));
    HPCNN_CUDNN(cudnnConvolutionForward(dnn_, &one, src_, input(src), w_, weights, conv_, fwd_algo_, ws_.as<void>(),
                                        ws_.bytes(), &zero, dst_, dst));
    if (bias == nullptr) return;  // a conv without bias (ConvGeometry::bias)
    const int64_t count = g_.n * g_.oc * g_.oh * g_.ow;
    add_bias_kernel<<<launch::per_element(count, "add_bias_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        dst, bias, g_.n, g_.oc, g_.oh * g_.ow);
    HPCNN_CUDA(cudaGetLastError());
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    const float one = 1.0f, zero = 0.0f;
    float* out = explicit_pad_ ? padded_diff_.as<float>() : diff_src;
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, bwd_data_math_));
    HPCNN_CUDNN(cudnnConvolutionBackwardData(dnn_, &one, w_, weights, dst_, diff_dst, conv_, bwd_data_algo_,
                                             ws_.as<void>(), ws_.bytes(), &zero, src_, out));
    if (explicit_pad_) {
      const int64_t planes = g_.n * g_.ic;
      crop_kernel<<<launch::per_element(planes * g_.ih * g_.iw, "crop_kernel").grid_x, launch::kThreads, 0, stream_>>>(
          out, diff_src, planes, g_.ih, g_.iw, g_.pad_top, g_.pad_left, ph_, pw_);
      HPCNN_CUDA(cudaGetLastError());
    }
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    const float one = 1.0f, zero = 0.0f;
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, bwd_filter_math_));
    HPCNN_CUDNN(cudnnConvolutionBackwardFilter(dnn_, &one, src_, input(src), dst_, diff_dst, conv_, bwd_filter_algo_,
                                               ws_.as<void>(), ws_.bytes(), &zero, w_, diff_weights));
    if (diff_bias == nullptr) return;
    bias_grad_kernel<<<launch::per_channel(g_.oc, maths::kTreeLanes, "bias_grad_kernel").grid_x, maths::kTreeLanes, 0,
                       stream_>>>(diff_dst, diff_bias, g_.n, g_.oc, g_.oh * g_.ow);
    HPCNN_CUDA(cudaGetLastError());
  }

 private:
  /// src as the convolution reads it: itself, or padded into the scratch.
  const float* input(const float* src) {
    if (!explicit_pad_) return src;
    const int64_t planes = g_.n * g_.ic;
    pad_kernel<<<launch::per_element(planes * ph_ * pw_, "pad_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        src, padded_.as<float>(), planes, g_.ih, g_.iw, g_.pad_top, g_.pad_left, ph_, pw_);
    HPCNN_CUDA(cudaGetLastError());
    return padded_.as<float>();
  }

  /// The fastest deterministic algorithm of each pass by cuDNN's heuristics
  /// (cudnnGet*_v7 lists them best first) whose math type is allowed and
  /// whose workspace fits in the free memory (choose_conv_algo), its math
  /// type applied before each call as PyTorch does (issue 33.6), and one
  /// workspace for all three. HPCNN_CUDNN_VERBOSE=1 prints the choices.
  void choose_algorithms(bool allow_tf32) {
    size_t free_bytes = 0, total_bytes = 0;
    HPCNN_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    // Half the free memory: activations and the other layers' workspaces come later.
    const size_t limit = free_bytes / 2;
    int found = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    HPCNN_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(dnn_, src_, w_, conv_, dst_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                       &found, fwd));
    const int f = pick(fwd, found, allow_tf32, limit, "forward");
    fwd_algo_ = fwd[f].algo;
    fwd_math_ = fwd[f].mathType;
    cudnnConvolutionBwdDataAlgoPerf_t bd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    HPCNN_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn_, w_, dst_, conv_, src_,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, bd));
    const int d = pick(bd, found, allow_tf32, limit, "backward data");
    bwd_data_algo_ = bd[d].algo;
    bwd_data_math_ = bd[d].mathType;
    cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    HPCNN_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn_, src_, dst_, conv_, w_,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, bf));
    const int w = pick(bf, found, allow_tf32, limit, "backward filter");
    bwd_filter_algo_ = bf[w].algo;
    bwd_filter_math_ = bf[w].mathType;
    // The workspace sizes for the math types that will be set.
    size_t a = 0, b = 0, c = 0;
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, fwd_math_));
    HPCNN_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(dnn_, src_, w_, conv_, dst_, fwd_algo_, &a));
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, bwd_data_math_));
    HPCNN_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize(dnn_, w_, dst_, conv_, src_, bwd_data_algo_, &b));
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, bwd_filter_math_));
    HPCNN_CUDNN(cudnnGetConvolutionBackwardFilterWorkspaceSize(dnn_, src_, dst_, conv_, w_, bwd_filter_algo_, &c));
    ws_ = Scratch(std::max(a, std::max(b, c)), stream_);
    const char* verbose = std::getenv("HPCNN_CUDNN_VERBOSE");
    if (verbose != nullptr && std::string(verbose) == "1") {
      std::fprintf(stderr,
                   "cudnn conv n%lld ic%lld %lldx%lld -> oc%lld %lldx%lld k%lldx%lld s%lld g%lld: fwd algo %d math %d, "
                   "bwd data algo %d math %d, bwd filter algo %d math %d, workspace %zu bytes\n",
                   static_cast<long long>(g_.n), static_cast<long long>(g_.ic), static_cast<long long>(ph_),
                   static_cast<long long>(pw_), static_cast<long long>(g_.oc), static_cast<long long>(g_.oh),
                   static_cast<long long>(g_.ow), static_cast<long long>(g_.kh), static_cast<long long>(g_.kw),
                   static_cast<long long>(g_.stride), static_cast<long long>(g_.groups), static_cast<int>(fwd_algo_),
                   static_cast<int>(fwd_math_), static_cast<int>(bwd_data_algo_), static_cast<int>(bwd_data_math_),
                   static_cast<int>(bwd_filter_algo_), static_cast<int>(bwd_filter_math_), ws_.bytes());
    }
  }

  template <typename Perf>
  static int pick(const Perf* perf, int found, bool allow_tf32, size_t limit, const char* pass) {
    std::vector<ConvAlgoOption> options;
    for (int i = 0; i < found; ++i) {
      ConvAlgoOption o;
      o.algo = static_cast<int>(perf[i].algo);
      o.succeeded = perf[i].status == CUDNN_STATUS_SUCCESS;
      o.deterministic = perf[i].determinism == CUDNN_DETERMINISTIC;
      o.math = perf[i].mathType == CUDNN_FMA_MATH ? ConvAlgoOption::Math::kFma
               : perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                   ? ConvAlgoOption::Math::kTensorOpAllowConversion
                   : ConvAlgoOption::Math::kTensorOp;  // CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH: may use TF32
      o.memory = perf[i].memory;
      options.push_back(o);
    }
    const ConvAlgoChoice c = choose_conv_algo(options, allow_tf32, limit, pass);
    if (c.index < 0) HPCNN_THROW(c.refusal);
    return c.index;
  }

  void release() noexcept {
    if (conv_ != nullptr) cudnnDestroyConvolutionDescriptor(conv_);
    if (w_ != nullptr) cudnnDestroyFilterDescriptor(w_);
    if (dst_ != nullptr) cudnnDestroyTensorDescriptor(dst_);
    if (src_ != nullptr) cudnnDestroyTensorDescriptor(src_);
    conv_ = nullptr;
    w_ = nullptr;
    dst_ = src_ = nullptr;
  }

  cudnnHandle_t dnn_;
  cudaStream_t stream_;
  ConvGeometry g_;
  cudnnTensorDescriptor_t src_ = nullptr, dst_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_algo_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo_{};
  cudnnMathType_t fwd_math_ = CUDNN_FMA_MATH, bwd_data_math_ = CUDNN_FMA_MATH, bwd_filter_math_ = CUDNN_FMA_MATH;
  Scratch ws_;
  bool explicit_pad_ = false;
  int64_t ph_ = 0, pw_ = 0;       ///< the input's height and width as cuDNN sees it
  Scratch padded_, padded_diff_;  ///< explicitly padded src and its gradient
};

class CudaBatchNorm final : public BatchNormOp {
 public:
  CudaBatchNorm(cudaStream_t stream, const NormGeometry& g)
      : stream_(stream), g_(g), stats_(static_cast<size_t>(2 * g.c) * sizeof(float), stream) {}
  void forward_training(const float* src, const float* gamma, const float* beta, float* running_mean,
                        float* running_var, float* dst) override {
    bn_stats_kernel<<<launch::per_channel(g_.c, maths::kTreeLanes, "bn_stats_kernel").grid_x, maths::kTreeLanes, 0,
                      stream_>>>(src, g_, mean(), inv_std(), running_mean, running_var);
    HPCNN_CUDA(cudaGetLastError());
    normalize(src, gamma, beta, dst);
  }
  void forward_inference(const float* src, const float* gamma, const float* beta, const float* running_mean,
                         const float* running_var, float* dst) override {
    // Uses its own copy of the statistics: the batch's (for backward) stay put.
    if (running_.bytes() == 0) running_ = Scratch(static_cast<size_t>(2 * g_.c) * sizeof(float), stream_);
    float* m = running_.as<float>();
    bn_running_kernel<<<launch::per_element(g_.c, "bn_running_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        g_, running_mean, running_var, m, m + g_.c);
    HPCNN_CUDA(cudaGetLastError());
    bn_normalize_kernel<<<launch::per_element(count(), "bn_normalize_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        src, dst, g_, m, m + g_.c, gamma, beta);
    HPCNN_CUDA(cudaGetLastError());
  }
  void backward(const float* src, const float* diff_dst, const float* gamma, float* diff_src, float* diff_gamma,
                float* diff_beta) override {
    bn_backward_kernel<<<launch::per_channel(g_.c, maths::kTreeLanes, "bn_backward_kernel").grid_x, maths::kTreeLanes,
                         0, stream_>>>(src, diff_dst, gamma, g_, mean(), inv_std(), diff_src, diff_gamma, diff_beta);
    HPCNN_CUDA(cudaGetLastError());
  }

 private:
  int64_t count() const { return g_.n * g_.c * g_.h * g_.w; }
  float* mean() const { return stats_.as<float>(); }
  float* inv_std() const { return stats_.as<float>() + g_.c; }
  void normalize(const float* src, const float* gamma, const float* beta, float* dst) {
    bn_normalize_kernel<<<launch::per_element(count(), "bn_normalize_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        src, dst, g_, mean(), inv_std(), gamma, beta);
    HPCNN_CUDA(cudaGetLastError());
  }
  cudaStream_t stream_;
  NormGeometry g_;
  Scratch stats_;    ///< the last training batch's mean and 1 / std per channel
  Scratch running_;  ///< inference: the running statistics as mean and 1 / std
};

class CudaPool final : public PoolOp {
 public:
  CudaPool(cudaStream_t stream, const PoolGeometry& g)
      : stream_(stream), g_(g), argmax_(static_cast<size_t>(g.n * g.c * g.oh * g.ow) * sizeof(int64_t), stream) {
    HPCNN_CHECK(!g.relu_grad, "cuda: pool options this backend does not offer");
  }
  void forward(const float* src, float* dst) override {
    pool_forward_kernel<<<launch::per_element(g_.n * g_.c * g_.oh * g_.ow, "pool_forward_kernel").grid_x,
                          launch::kThreads, 0, stream_>>>(src, dst, argmax_.as<int64_t>(), g_);
    HPCNN_CUDA(cudaGetLastError());
  }
  void backward(const float* diff_dst, float* diff_src) override {
    pool_backward_kernel<<<launch::per_element(g_.n * g_.c * g_.ih * g_.iw, "pool_backward_kernel").grid_x,
                           launch::kThreads, 0, stream_>>>(diff_dst, argmax_.as<int64_t>(), diff_src, g_);
    HPCNN_CUDA(cudaGetLastError());
  }

 private:
  cudaStream_t stream_;
  PoolGeometry g_;
  Scratch argmax_;
};

/// Row-major dense layers through column-major SGEMM: a row-major (R, C)
/// matrix is the column-major (C, R) one with leading dimension C.
class CudaDense final : public DenseOp {
 public:
  CudaDense(cublasHandle_t blas, cudaStream_t stream, const DenseGeometry& g) : blas_(blas), stream_(stream), g_(g) {}

  // dst (N, OUT) = src (N, IN) W^T: column-major dst^T (OUT, N) = W (OUT, IN, stored as (IN, OUT)^T) src^T.
  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    const float one = 1.0f, zero = 0.0f;
    HPCNN_CUBLAS(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(g_.out), static_cast<int>(g_.n),
                             static_cast<int>(g_.in), &one, weights, static_cast<int>(g_.in), src,
                             static_cast<int>(g_.in), &zero, dst, static_cast<int>(g_.out)));
    add_bias_kernel<<<launch::per_element(g_.n * g_.out, "add_bias_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        dst, bias, g_.n, g_.out, 1);
    HPCNN_CUDA(cudaGetLastError());
  }
  // diff_src (N, IN) = diff_dst (N, OUT) W: column-major diff_src^T (IN, N) = W^T (IN, OUT) diff_dst^T (OUT, N).
  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    const float one = 1.0f, zero = 0.0f;
    HPCNN_CUBLAS(cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(g_.in), static_cast<int>(g_.n),
                             static_cast<int>(g_.out), &one, weights, static_cast<int>(g_.in), diff_dst,
                             static_cast<int>(g_.out), &zero, diff_src, static_cast<int>(g_.in)));
  }
  // diff_W (OUT, IN) = diff_dst^T src: column-major diff_W^T (IN, OUT) = src^T (IN, N) diff_dst (N, OUT).
  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    const float one = 1.0f, zero = 0.0f;
    HPCNN_CUBLAS(cublasSgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(g_.in), static_cast<int>(g_.out),
                             static_cast<int>(g_.n), &one, src, static_cast<int>(g_.in), diff_dst,
                             static_cast<int>(g_.out), &zero, diff_weights, static_cast<int>(g_.in)));
    bias_grad_kernel<<<launch::per_channel(g_.out, maths::kTreeLanes, "bias_grad_kernel").grid_x, maths::kTreeLanes, 0,
                       stream_>>>(diff_dst, diff_bias, g_.n, g_.out, 1);
    HPCNN_CUDA(cudaGetLastError());
  }

 private:
  cublasHandle_t blas_;
  cudaStream_t stream_;
  DenseGeometry g_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& o) : allow_tf32_(o.allow_tf32) {
    // Device selection comes before any other CUDA call; a machine without a
    // usable GPU gets one line naming CUDA's reason.
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
      throw UsageError(std::string("--backend cuda: no usable GPU (cudaGetDeviceCount: ") +
                       (err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device") + ")");
    }
    device_ = o.gpu >= 0 ? o.gpu : o.local_rank % count;
    if (device_ >= count) {
      throw UsageError("--gpu " + std::to_string(device_) + ": this node has " + std::to_string(count) + " GPU(s)");
    }
    const cudaError_t set = cudaSetDevice(device_);
    if (set != cudaSuccess) {
      throw UsageError("--backend cuda: cannot use GPU " + std::to_string(device_) + " (" + cudaGetErrorString(set) +
                       ")");
    }
    // A constructor that throws runs no destructor: release what was made (issue 33.8).
    try {
      HPCNN_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      HPCNN_CUDA(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
      HPCNN_CUBLAS(cublasCreate(&blas_));
      HPCNN_CUBLAS(cublasSetStream(blas_, stream_));
      // FP32 SGEMM under CUBLAS_DEFAULT_MATH uses no tensor cores and no
      // reduced precision; CUBLAS_PEDANTIC_MATH (main 9f91d3b) only adds
      // "disable any optimization that could reduce accuracy", which the
      // 1e-5 checks do not need (issue 33.7).
      HPCNN_CUBLAS(cublasSetMathMode(blas_, allow_tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
      HPCNN_CUDNN(cudnnCreate(&dnn_));
      HPCNN_CUDNN(cudnnSetStream(dnn_, stream_));
      loss_ = Scratch(sizeof(DeviceLoss), stream_);
      HPCNN_CUDA(cudaMemsetAsync(loss_.as<void>(), 0, sizeof(DeviceLoss), stream_));
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaBackend() override { release(); }

  std::string name() const override { return "cuda"; }
  DeviceKind device() const override { return DeviceKind::kGpu; }

  float* allocate(int64_t count) override {
    void* p = nullptr;
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float);
    HPCNN_CUDA(cudaMallocAsync(&p, bytes, stream_));
    HPCNN_CUDA(cudaMemsetAsync(p, 0, bytes, stream_));
    return static_cast<float*>(p);
  }
  void release(float* p) override {
    if (p != nullptr) cudaFreeAsync(p, stream_);
  }
  void upload(float* dst, const float* host_src, int64_t count) override {
    if (count <= 0) return;
    bind_thread();
    HPCNN_CUDA(
        cudaMemcpyAsync(dst, host_src, static_cast<size_t>(count) * sizeof(float), cudaMemcpyHostToDevice, stream_));
    count_up(count * static_cast<int64_t>(sizeof(float)));
  }
  // A download waits for the work queued on the compute stream before it
  // (an event), not for the whole stream, and copies on a stream of its
  // own: the staged reducer's thread no longer serialises with the kernels
  // the trainer queues meanwhile (issue 33.3). Each call has its own event,
  // so the trainer's thread and the reducer's may download at once.
  void download(float* host_dst, const float* src, int64_t count) override {
    if (count <= 0) return;
    bind_thread();
    cudaEvent_t queued = nullptr;
    HPCNN_CUDA(cudaEventCreateWithFlags(&queued, cudaEventDisableTiming));
    const cudaError_t copied = [&] {
      cudaError_t e = cudaEventRecord(queued, stream_);
      if (e == cudaSuccess) e = cudaStreamWaitEvent(copy_stream_, queued, 0);
      if (e == cudaSuccess) {
        e = cudaMemcpyAsync(host_dst, src, static_cast<size_t>(count) * sizeof(float), cudaMemcpyDeviceToHost,
                            copy_stream_);
      }
      if (e == cudaSuccess) e = cudaStreamSynchronize(copy_stream_);
      return e;
    }();
    cudaEventDestroy(queued);
    HPCNN_CUDA(copied);
    count_down(count * static_cast<int64_t>(sizeof(float)));
  }
  /// Page-locked (cudaMallocHost): the staged reducer's block buffer, so its
  /// copies are DMA transfers that run asynchronously to the host.
  float* allocate_host(int64_t count) override {
    bind_thread();
    void* p = nullptr;
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float);
    HPCNN_CUDA(cudaMallocHost(&p, bytes));
    std::memset(p, 0, bytes);
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    ++counters_.host_buffers;
    return static_cast<float*>(p);
  }
  void release_host(float* p) override {
    if (p == nullptr) return;
    bind_thread();
    cudaFreeHost(p);
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    --counters_.host_buffers;
  }
  void copy(float* dst, const float* src, int64_t count) override {
    if (count > 0) {
      HPCNN_CUDA(
          cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    }
  }
  void fill(float* dst, float value, int64_t count) override {
    if (count <= 0) return;
    fill_kernel<<<launch::per_element(count, "fill_kernel").grid_x, launch::kThreads, 0, stream_>>>(dst, value, count);
    HPCNN_CUDA(cudaGetLastError());
  }
  void synchronize() override { HPCNN_CUDA(cudaStreamSynchronize(stream_)); }
  TransferCounters transfers() const override {
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    return counters_;
  }
  void* native_stream() override { return stream_; }

  std::unique_ptr<ConvOp> make_conv(const ConvGeometry& g) override {
    return std::make_unique<CudaConv>(dnn_, stream_, g, allow_tf32_);
  }
  std::unique_ptr<PoolOp> make_pool(const PoolGeometry& g) override { return std::make_unique<CudaPool>(stream_, g); }
  std::unique_ptr<DenseOp> make_dense(const DenseGeometry& g) override {
    return std::make_unique<CudaDense>(blas_, stream_, g);
  }

  void relu_forward(const float* src, float* dst, int64_t count) override {
    if (count <= 0) return;
    relu_kernel<<<launch::per_element(count, "relu_kernel").grid_x, launch::kThreads, 0, stream_>>>(src, dst, count);
    HPCNN_CUDA(cudaGetLastError());
  }
  void relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    if (count <= 0) return;
    relu_grad_kernel<<<launch::per_element(count, "relu_grad_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        dst, diff_dst, diff_src, count);
    HPCNN_CUDA(cudaGetLastError());
  }
  void multiply(const float* a, const float* b, float* dst, int64_t count) override {
    if (count <= 0) return;
    multiply_kernel<<<launch::per_element(count, "multiply_kernel").grid_x, launch::kThreads, 0, stream_>>>(a, b, dst,
                                                                                                            count);
    HPCNN_CUDA(cudaGetLastError());
  }
  std::unique_ptr<BatchNormOp> make_batch_norm(const NormGeometry& g) override {
    return std::make_unique<CudaBatchNorm>(stream_, g);
  }
  void relu6_forward(const float* src, float* dst, int64_t count) override {
    if (count <= 0) return;
    relu6_kernel<<<launch::per_element(count, "relu6_kernel").grid_x, launch::kThreads, 0, stream_>>>(src, dst, count);
    HPCNN_CUDA(cudaGetLastError());
  }
  void relu6_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    if (count <= 0) return;
    relu6_grad_kernel<<<launch::per_element(count, "relu6_grad_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        dst, diff_dst, diff_src, count);
    HPCNN_CUDA(cudaGetLastError());
  }
  void add(const float* a, const float* b, float* dst, int64_t count) override {
    if (count <= 0) return;
    add_kernel<<<launch::per_element(count, "add_kernel").grid_x, launch::kThreads, 0, stream_>>>(a, b, dst, count);
    HPCNN_CUDA(cudaGetLastError());
  }
  void global_avg_pool_forward(const float* src, float* dst, int64_t planes, int64_t plane_size) override {
    gap_kernel<<<launch::per_channel(planes, maths::kTreeLanes, "gap_kernel").grid_x, maths::kTreeLanes, 0, stream_>>>(
        src, dst, planes, plane_size);
    HPCNN_CUDA(cudaGetLastError());
  }
  void global_avg_pool_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t plane_size) override {
    gap_grad_kernel<<<launch::per_element(planes * plane_size, "gap_grad_kernel").grid_x, launch::kThreads, 0,
                      stream_>>>(diff_dst, diff_src, planes, plane_size);
    HPCNN_CUDA(cudaGetLastError());
  }
  void zero_pad_forward(const float* src, float* dst, int64_t planes, int64_t h, int64_t w, int64_t top, int64_t bottom,
                        int64_t left, int64_t right) override {
    const int64_t ph = top + h + bottom, pw = left + w + right;
    pad_kernel<<<launch::per_element(planes * ph * pw, "pad_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        src, dst, planes, h, w, top, left, ph, pw);
    HPCNN_CUDA(cudaGetLastError());
  }
  void zero_pad_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t h, int64_t w, int64_t top,
                         int64_t bottom, int64_t left, int64_t right) override {
    const int64_t ph = top + h + bottom, pw = left + w + right;
    crop_kernel<<<launch::per_element(planes * h * w, "crop_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        diff_dst, diff_src, planes, h, w, top, left, ph, pw);
    HPCNN_CUDA(cudaGetLastError());
  }
  void dropout_forward(const float* src, float* dst, int64_t n, int64_t per_sample, const int64_t* host_sample_indices,
                       const DropoutParams& d) override {
    dropout(src, dst, n, per_sample, host_sample_indices, d);
  }
  void dropout_backward(const float* diff_dst, float* diff_src, int64_t n, int64_t per_sample,
                        const int64_t* host_sample_indices, const DropoutParams& d) override {
    dropout(diff_dst, diff_src, n, per_sample, host_sample_indices, d);
  }

  void softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k, float scale,
                             float* diff_logits) override {
    if (n <= 0) return;
    const int32_t* labels = stage(scratch_labels_, host_labels, n);
    rows(n);
    softmax_xent_kernel<<<launch::per_element(n, "softmax_xent_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        logits, labels, n, k, scale, diff_logits, row_loss(), row_correct(n));
    HPCNN_CUDA(cudaGetLastError());
    accumulate_loss_kernel<<<1, 1, 0, stream_>>>(row_loss(), row_correct(n), n, loss_.as<DeviceLoss>());
    HPCNN_CUDA(cudaGetLastError());
  }
  void mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                          float* diff) override {
    const int64_t count = n * t;
    if (count <= 0) return;
    rows(count);
    squared_error_kernel<<<launch::per_element(count, "squared_error_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        pred, target, count, t, scale, diff, row_loss(), row_correct(count));
    HPCNN_CUDA(cudaGetLastError());
    accumulate_loss_kernel<<<1, 1, 0, stream_>>>(row_loss(), row_correct(count), count, loss_.as<DeviceLoss>());
    HPCNN_CUDA(cudaGetLastError());
  }
  LossResult read_loss() override {
    DeviceLoss host{};
    HPCNN_CUDA(cudaMemcpyAsync(&host, loss_.as<void>(), sizeof host, cudaMemcpyDeviceToHost, stream_));
    HPCNN_CUDA(cudaMemsetAsync(loss_.as<void>(), 0, sizeof(DeviceLoss), stream_));
    HPCNN_CUDA(cudaStreamSynchronize(stream_));
    count_down(sizeof host);
    return {host.loss_sum, static_cast<int64_t>(host.correct)};
  }

  void adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& s) override {
    if (count <= 0) return;
    adam_kernel<<<launch::per_element(count, "adam_kernel").grid_x, launch::kThreads, 0, stream_>>>(params, grads, m, v,
                                                                                                    count, s);
    HPCNN_CUDA(cudaGetLastError());
  }
  void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                  float momentum) override {
    if (count <= 0) return;
    sgd_kernel<<<launch::per_element(count, "sgd_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        params, grads, velocity, count, lr, momentum);
    HPCNN_CUDA(cudaGetLastError());
  }

 private:
  /// Frees the scratch on the stream, then the handles and the stream (each only if made).
  void release() noexcept {
    if (copy_stream_ != nullptr) {
      cudaStreamSynchronize(copy_stream_);
      cudaStreamDestroy(copy_stream_);
      copy_stream_ = nullptr;
    }
    if (stream_ == nullptr) return;
    cudaStreamSynchronize(stream_);
    scratch_rows_ = Scratch();
    scratch_labels_ = Scratch();
    scratch_samples_ = Scratch();
    loss_ = Scratch();
    cudaStreamSynchronize(stream_);
    if (dnn_ != nullptr) cudnnDestroy(dnn_);
    if (blas_ != nullptr) cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
    dnn_ = nullptr;
    blas_ = nullptr;
    stream_ = nullptr;
  }
  // The staged reducer calls upload/download on its communication thread
  // (issue 33.3): the counters are shared with the trainer's thread, and
  // that thread's current device is GPU 0 until it is told otherwise.
  void count_up(int64_t bytes) {
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    counters_.host_to_device_bytes += bytes;
    ++counters_.uploads;
  }
  void count_down(int64_t bytes) {
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    counters_.device_to_host_bytes += bytes;
    ++counters_.downloads;
  }
  /// Makes this backend's GPU the calling thread's current device. CUDA's
  /// current device is per thread: without this a rank > 0's reducer thread
  /// opened a second context on GPU 0 (about 0.5 GiB each, refused outright
  /// in EXCLUSIVE_PROCESS mode). cudaSetDevice to the current device is a
  /// cheap thread-local check.
  void bind_thread() const { HPCNN_CUDA(cudaSetDevice(device_)); }
  /// Copies `n` host values into `buffer` (grown as needed) on the stream.
  /// The copy from pageable memory completes before cudaMemcpyAsync returns,
  /// so the host array may change right after.
  template <typename T>
  const T* stage(Scratch& buffer, const T* host, int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    if (buffer.bytes() < bytes) buffer = Scratch(bytes, stream_);
    HPCNN_CUDA(cudaMemcpyAsync(buffer.as<void>(), host, bytes, cudaMemcpyHostToDevice, stream_));
    count_up(static_cast<int64_t>(bytes));
    return buffer.as<T>();
  }
  void dropout(const float* x, float* y, int64_t n, int64_t per_sample, const int64_t* host_samples,
               const DropoutParams& d) {
    if (n * per_sample <= 0) return;
    const int64_t* samples = stage(scratch_samples_, host_samples, n);
    dropout_kernel<<<launch::per_element(n * per_sample, "dropout_kernel").grid_x, launch::kThreads, 0, stream_>>>(
        x, y, n, per_sample, samples, d.layer_key, d.threshold, d.keep_scale);
    HPCNN_CUDA(cudaGetLastError());
  }
  /// Per-row loss and correct-count scratch for `n` rows.
  void rows(int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * (sizeof(double) + sizeof(long long));
    if (scratch_rows_.bytes() < bytes) scratch_rows_ = Scratch(bytes, stream_);
  }
  double* row_loss() { return scratch_rows_.as<double>(); }
  long long* row_correct(int64_t n) { return reinterpret_cast<long long*>(scratch_rows_.as<double>() + n); }

  bool allow_tf32_ = false;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaStream_t copy_stream_ = nullptr;  ///< downloads, ordered after the compute stream by an event
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  Scratch loss_, scratch_rows_, scratch_labels_, scratch_samples_;
  mutable std::mutex counter_mutex_;
  TransferCounters counters_;  ///< under counter_mutex_
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  if (options.precision != Precision::kFp32) throw UsageError("--precision bf16: the cuda backend computes in FP32");
  return std::make_unique<CudaBackend>(options);
}

bool cuda_backend_compiled() { return true; }

}  // namespace hpcnn::kernels
