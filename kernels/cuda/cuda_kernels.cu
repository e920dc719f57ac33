// hpcnn's own CUDA kernels and the host functions that queue them
// (kernels/cuda/cuda_kernels.hpp): element-wise ops, dropout, losses,
// optimizers, bias, explicit padding, the MobileNet layers and max pooling,
// each over kernels/common/maths.hpp, the very functions the CPU backends
// run (compiled with --fmad=false: bitwise the host's results).
//
// Determinism: every kernel here writes each output from one thread in a
// fixed order (no atomics); bias gradients, batch-norm sums and global
// average pooling sum by maths::tree_sum's fixed tree, a block per
// channel; the loss runs in one thread in index order.
//
// Every kernel is queued through launch_on (below): its grid from
// launch_config.hpp, which checks CUDA's limits, nothing queued when there
// is no work (count <= 0: an empty grid is an invalid configuration), and
// the launch checked at once so an error names the kernel's call site.
#include <cuda_runtime.h>

#include "common/maths.hpp"
#include "core/error.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_kernels.hpp"
#include "cuda/launch_config.hpp"

namespace hpcnn::kernels::gpu {

namespace {

// ---- element-wise kernels (the shared maths) --------------------------------

__global__ void fill_kernel(float* dst, float value, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = value;
}
/// dst[i] = Op()(src[i]): the one-input element-wise ops.
template <class Op>
__global__ void unary_kernel(const float* src, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = Op()(src[i]);
}
/// dst[i] = Op()(a[i], b[i]): the two-input element-wise ops and the gradients.
template <class Op>
__global__ void binary_kernel(const float* a, const float* b, float* dst, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = Op()(a[i], b[i]);
}
struct Relu {
  __device__ float operator()(float x) const { return maths::relu(x); }
};
struct ReluGrad {
  __device__ float operator()(float y, float dy) const { return maths::relu_grad(y, dy); }
};
struct Relu6 {
  __device__ float operator()(float x) const { return maths::relu6(x); }
};
struct Relu6Grad {
  __device__ float operator()(float y, float dy) const { return maths::relu6_grad(y, dy); }
};
struct Multiply {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};
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
  const double sum = block_tree_fold(lanes, maths::tree_lane_sum(at, n * plane, lane));
  if (lane == 0) diff_bias[ch] = static_cast<float>(sum);
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

// relu6, its gradient and add: unary_kernel / binary_kernel above.
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

/// The one launch helper: queues `kernel` on `stream` over `work` elements
/// (one thread each), channels (a block of maths::kTreeLanes each) or one
/// thread, and checks the launch; queues nothing when `work` <= 0. `name`
/// is the kernel's, for launch_config's errors.
enum class Grid { kPerElement, kPerChannel, kSingle };
template <typename... Params, typename... Args>
void launch_on(cudaStream_t stream, Grid grid, int64_t work, const char* name, void (*kernel)(Params...),
               Args... args) {
  if (work <= 0) return;
  const launch::Config c = grid == Grid::kPerElement   ? launch::per_element(work, name)
                           : grid == Grid::kPerChannel ? launch::per_channel(work, maths::kTreeLanes, name)
                                                       : launch::grid(1, 1, 1, 1, name);
  kernel<<<c.grid_x, c.block, 0, stream>>>(static_cast<Params>(args)...);
  HPCNN_CUDA(cudaGetLastError());
}
/// The kernel and its name, for launch_on.
#define HPCNN_KERNEL(k) #k, k

}  // namespace

void fill(cudaStream_t s, float* dst, float value, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(fill_kernel), dst, value, n);
}
void relu(cudaStream_t s, const float* src, float* dst, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(unary_kernel<Relu>), src, dst, n);
}
void relu_grad(cudaStream_t s, const float* y, const float* dy, float* dx, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(binary_kernel<ReluGrad>), y, dy, dx, n);
}
void multiply(cudaStream_t s, const float* a, const float* b, float* dst, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(binary_kernel<Multiply>), a, b, dst, n);
}
void dropout(cudaStream_t s, const float* x, float* y, int64_t n, int64_t per_sample, const int64_t* samples,
             const DropoutParams& d) {
  launch_on(s, Grid::kPerElement, n * per_sample, HPCNN_KERNEL(dropout_kernel), x, y, n, per_sample, samples,
            d.layer_key, d.threshold, d.keep_scale);
}
void adam(cudaStream_t s, float* p, const float* g, float* m, float* v, int64_t n, const AdamStep& step) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(adam_kernel), p, g, m, v, n, step);
}
void sgd(cudaStream_t s, float* p, const float* g, float* velocity, int64_t n, float lr, float momentum) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(sgd_kernel), p, g, velocity, n, lr, momentum);
}
void softmax_cross_entropy(cudaStream_t s, const float* logits, const int32_t* labels, int64_t n, int64_t k,
                           float scale, float* diff, double* row_loss, long long* row_correct, DeviceLoss* acc) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(softmax_xent_kernel), logits, labels, n, k, scale, diff, row_loss,
            row_correct);
  launch_on(s, Grid::kSingle, n, HPCNN_KERNEL(accumulate_loss_kernel), row_loss, row_correct, n, acc);
}
void squared_error(cudaStream_t s, const float* pred, const float* target, int64_t count, int64_t t, float scale,
                   float* diff, double* element_loss, long long* element_correct, DeviceLoss* acc) {
  launch_on(s, Grid::kPerElement, count, HPCNN_KERNEL(squared_error_kernel), pred, target, count, t, scale, diff,
            element_loss, element_correct);
  launch_on(s, Grid::kSingle, count, HPCNN_KERNEL(accumulate_loss_kernel), element_loss, element_correct, count, acc);
}
void add_bias(cudaStream_t s, float* dst, const float* bias, int64_t n, int64_t c, int64_t plane) {
  launch_on(s, Grid::kPerElement, n * c * plane, HPCNN_KERNEL(add_bias_kernel), dst, bias, n, c, plane);
}
void bias_grad(cudaStream_t s, const float* diff, float* diff_bias, int64_t n, int64_t c, int64_t plane) {
  launch_on(s, Grid::kPerChannel, c, HPCNN_KERNEL(bias_grad_kernel), diff, diff_bias, n, c, plane);
}
void pad(cudaStream_t s, const float* src, float* dst, int64_t planes, int64_t ih, int64_t iw, int64_t top,
         int64_t left, int64_t ph, int64_t pw) {
  launch_on(s, Grid::kPerElement, planes * ph * pw, HPCNN_KERNEL(pad_kernel), src, dst, planes, ih, iw, top, left, ph,
            pw);
}
void crop(cudaStream_t s, const float* padded, float* dst, int64_t planes, int64_t ih, int64_t iw, int64_t top,
          int64_t left, int64_t ph, int64_t pw) {
  launch_on(s, Grid::kPerElement, planes * ih * iw, HPCNN_KERNEL(crop_kernel), padded, dst, planes, ih, iw, top, left,
            ph, pw);
}
void relu6(cudaStream_t s, const float* src, float* dst, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(unary_kernel<Relu6>), src, dst, n);
}
void relu6_grad(cudaStream_t s, const float* y, const float* dy, float* dx, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(binary_kernel<Relu6Grad>), y, dy, dx, n);
}
void add(cudaStream_t s, const float* a, const float* b, float* dst, int64_t n) {
  launch_on(s, Grid::kPerElement, n, HPCNN_KERNEL(binary_kernel<Add>), a, b, dst, n);
}
void global_avg_pool(cudaStream_t s, const float* src, float* dst, int64_t planes, int64_t size) {
  launch_on(s, Grid::kPerChannel, planes, HPCNN_KERNEL(gap_kernel), src, dst, planes, size);
}
void global_avg_pool_grad(cudaStream_t s, const float* dy, float* dx, int64_t planes, int64_t size) {
  launch_on(s, Grid::kPerElement, planes * size, HPCNN_KERNEL(gap_grad_kernel), dy, dx, planes, size);
}
void batch_norm_stats(cudaStream_t s, const float* src, const NormGeometry& g, float* mean, float* inv_std,
                      float* running_mean, float* running_var) {
  launch_on(s, Grid::kPerChannel, g.c, HPCNN_KERNEL(bn_stats_kernel), src, g, mean, inv_std, running_mean, running_var);
}
void batch_norm_running(cudaStream_t s, const NormGeometry& g, const float* running_mean, const float* running_var,
                        float* mean, float* inv_std) {
  launch_on(s, Grid::kPerElement, g.c, HPCNN_KERNEL(bn_running_kernel), g, running_mean, running_var, mean, inv_std);
}
void batch_norm_normalize(cudaStream_t s, const float* src, float* dst, const NormGeometry& g, const float* mean,
                          const float* inv_std, const float* gamma, const float* beta) {
  launch_on(s, Grid::kPerElement, g.n * g.c * g.h * g.w, HPCNN_KERNEL(bn_normalize_kernel), src, dst, g, mean, inv_std,
            gamma, beta);
}
void batch_norm_backward(cudaStream_t s, const float* src, const float* dy, const float* gamma, const NormGeometry& g,
                         const float* mean, const float* inv_std, float* dx, float* dgamma, float* dbeta) {
  launch_on(s, Grid::kPerChannel, g.c, HPCNN_KERNEL(bn_backward_kernel), src, dy, gamma, g, mean, inv_std, dx, dgamma,
            dbeta);
}
void max_pool(cudaStream_t s, const float* src, float* dst, int64_t* argmax, const PoolGeometry& g) {
  launch_on(s, Grid::kPerElement, g.n * g.c * g.oh * g.ow, HPCNN_KERNEL(pool_forward_kernel), src, dst, argmax, g);
}
void max_pool_grad(cudaStream_t s, const float* diff_dst, const int64_t* argmax, float* diff_src,
                   const PoolGeometry& g) {
  launch_on(s, Grid::kPerElement, g.n * g.c * g.ih * g.iw, HPCNN_KERNEL(pool_backward_kernel), diff_dst, argmax,
            diff_src, g);
}

}  // namespace hpcnn::kernels::gpu
