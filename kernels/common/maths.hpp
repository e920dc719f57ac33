// The per-element and per-row maths every backend runs, written once.
//
// These inline functions are compiled by the host compiler for the CPU
// backends and by nvcc for the CUDA kernels (kernels/cuda/), so the CPU tests
// exercise the very code a GPU runs. The reference backend keeps its own
// textbook loops: it is the oracle these are tested against, bitwise
// (tests/unit/test_host_kernels.cpp: "Host element-wise ops, dropout and
// optimizers equal the reference bitwise"; tests/gpu for the CUDA kernels).
//
// Bitwise agreement between host and device needs the same operations in the
// same order: no fused multiply-add contraction (the project builds without
// -march, so GCC emits none; the CUDA kernels that use this file are compiled
// with --fmad=false), IEEE division and square root (nvcc's defaults; never
// --use_fast_math), and double precision where the host uses it.
//
// Nothing here allocates, throws or touches global state.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define HPCNN_HD __host__ __device__ __forceinline__
#else
#define HPCNN_HD inline
#endif

#if defined(__CUDA_ARCH__)
#define HPCNN_SQRTF(x) sqrtf(x)
#define HPCNN_EXP(x) exp(x)
#define HPCNN_LOG(x) log(x)
#define HPCNN_ISNAN(x) isnan(x)
#define HPCNN_INFF __int_as_float(0x7f800000)
#else
#include <cmath>
#define HPCNN_SQRTF(x) std::sqrt(x)
#define HPCNN_EXP(x) std::exp(x)
#define HPCNN_LOG(x) std::log(x)
#define HPCNN_ISNAN(x) std::isnan(x)
#define HPCNN_INFF __builtin_huge_valf()
#endif

namespace hpcnn::kernels::maths {

// ---- ReLU ---------------------------------------------------------------------

/// `x < 0` is false for NaN: NaN passes through, so bad data reaches the loss check.
HPCNN_HD float relu(float x) { return x < 0.0f ? 0.0f : x; }
/// Gradient through ReLU given the forward *output* y.
HPCNN_HD float relu_grad(float y, float diff_y) { return y > 0.0f ? diff_y : 0.0f; }
/// ReLU6 (MobileNet): min(max(x, 0), 6); NaN passes through like relu().
HPCNN_HD float relu6(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }
/// Gradient through ReLU6 given the forward output y: only where 0 < y < 6.
HPCNN_HD float relu6_grad(float y, float diff_y) { return y > 0.0f && y < 6.0f ? diff_y : 0.0f; }

// ---- optimizers ---------------------------------------------------------------

/// One Adam step on one parameter (Keras's form; see AdamStep in backend.hpp).
HPCNN_HD void adam_one(float& param, float grad, float& m, float& v, float lr_t, float beta1, float beta2,
                       float epsilon) {
  m = beta1 * m + (1.0f - beta1) * grad;
  v = beta2 * v + (1.0f - beta2) * grad * grad;
  param -= lr_t * m / (HPCNN_SQRTF(v) + epsilon);
}

/// One Keras SGD step: velocity = momentum * velocity - lr * grad; param += velocity.
HPCNN_HD void sgd_one(float& param, float grad, float& velocity, float lr, float momentum) {
  velocity = momentum * velocity - lr * grad;
  param += velocity;
}

// ---- dropout: a counter-based mask ------------------------------------------------
//
// Whether element `e` of the sample with global index `s` is kept is a pure
// function of (layer key, s, e): no mask is stored, uploaded or carried from
// forward to backward, and it does not depend on the batch split, the rank,
// the thread count or the device. The layer key is
// derive_key({seed, "DROP", epoch, layer}) (core/rng.hpp), made on the host
// once per layer and step.

/// splitmix64's finaliser (the same mixer as core/rng.hpp).
HPCNN_HD uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// The per-sample part of the key: hoist it out of the element loop.
HPCNN_HD uint64_t dropout_sample_key(uint64_t layer_key, int64_t sample_index) {
  return mix64(layer_key ^ mix64(static_cast<uint64_t>(sample_index)));
}

/// 24 random bits for element `e` of a sample; kept when >= the threshold.
HPCNN_HD uint32_t dropout_bits(uint64_t sample_key, int64_t element) {
  return static_cast<uint32_t>(mix64(sample_key + static_cast<uint64_t>(element)) >> 40);
}

/// The drop threshold for `rate` in [0, 1): an element is dropped with probability threshold / 2^24.
inline uint32_t dropout_threshold(double rate) { return static_cast<uint32_t>(rate * 16777216.0); }

/// The mask value of one element: `keep_scale` (1 / (1 - rate)) when kept, 0 when dropped.
HPCNN_HD float dropout_mask_value(uint64_t sample_key, int64_t element, uint32_t threshold, float keep_scale) {
  return dropout_bits(sample_key, element) >= threshold ? keep_scale : 0.0f;
}

// ---- max pooling: one window -------------------------------------------------------

/// The maximum of the kernel x kernel window whose top-left corner is at
/// (row0, col0) of a plane `iw` wide; `at` receives its offset in the plane.
/// The first maximum wins; a NaN wins and propagates (as in PyTorch).
HPCNN_HD float max_pool_window(const float* plane, int64_t iw, int64_t row0, int64_t col0, int64_t kernel,
                               int64_t* at) {
  float best = -HPCNN_INFF;
  int64_t where = row0 * iw + col0;
  for (int64_t kh = 0; kh < kernel; ++kh) {
    const int64_t row = (row0 + kh) * iw + col0;
    for (int64_t kw = 0; kw < kernel; ++kw) {
      const float x = plane[row + kw];
      if (x > best || HPCNN_ISNAN(x)) {
        best = x;
        where = row + kw;
      }
    }
  }
  *at = where;
  return best;
}

// ---- losses: one row -------------------------------------------------------------------

/// Softmax cross-entropy of one row of `k` logits with label `label`:
/// writes diff[j] = scale * (softmax_j - onehot_j), adds the row's loss to
/// *loss and 1 to *correct when the label is the (first) arg-max. Computed in
/// double, as the reference does.
HPCNN_HD void softmax_cross_entropy_row(const float* row, int64_t k, int32_t label, float scale, float* diff,
                                        double* loss, int64_t* correct) {
  int64_t arg = 0;
  for (int64_t j = 1; j < k; ++j) arg = row[j] > row[arg] ? j : arg;
  const double max = row[arg];
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) sum += HPCNN_EXP(static_cast<double>(row[j]) - max);
  *loss += HPCNN_LOG(sum) - (static_cast<double>(row[label]) - max);
  *correct += arg == label ? 1 : 0;
  for (int64_t j = 0; j < k; ++j) {
    const double p = HPCNN_EXP(static_cast<double>(row[j]) - max) / sum;
    diff[j] = static_cast<float>(scale * (p - (j == label ? 1.0 : 0.0)));
  }
}

/// Mean squared error of one element of a row of `t` targets: returns the
/// element's share of the sample loss, (pred - target)^2 / t, and writes
/// *diff = scale * 2 (pred - target) / t.
HPCNN_HD double squared_error_one(float pred, float target, int64_t t, float scale, float* diff) {
  const double e = static_cast<double>(pred) - target;
  *diff = static_cast<float>(scale * 2.0 * e / static_cast<double>(t));
  return e * e / static_cast<double>(t);
}

// ---- the fixed reduction tree of the CUDA backend's per-channel sums ----------

/// Lanes of the tree: one thread block's threads (issue 33.7).
inline constexpr int kTreeLanes = 256;

/// Lane `lane`'s part of a sum of `count` values: the values at lane,
/// lane + kTreeLanes, lane + 2 kTreeLanes, ... added in index order, in
/// double. `at(i)` returns value i.
template <class At>
HPCNN_HD double tree_lane_sum(const At& at, int64_t count, int lane) {
  double acc = 0.0;
  for (int64_t i = lane; i < count; i += kTreeLanes) acc += static_cast<double>(at(i));
  return acc;
}

/// The fold of the lanes' partial sums, as the device does it in shared
/// memory: for s = kTreeLanes / 2, ..., 1, lane l < s adds lane l + s.
HPCNN_HD double tree_fold(double* lanes) {
  for (int s = kTreeLanes / 2; s > 0; s /= 2) {
    for (int l = 0; l < s; ++l) lanes[l] += lanes[l + s];
  }
  return lanes[0];
}

/// The sum of `count` values by that tree: on the host, bitwise what a
/// CUDA block of kTreeLanes threads computes with tree_lane_sum and the same
/// fold (kernels/cuda/cuda_kernels.cu's bias gradient; tests/gpu checks the
/// two agree bitwise). The CUDA backend used one thread per channel before,
/// a few dozen busy threads on a whole GPU for a conv's bias gradient.
template <class At>
double tree_sum(const At& at, int64_t count) {
  double lanes[kTreeLanes];
  for (int l = 0; l < kTreeLanes; ++l) lanes[l] = tree_lane_sum(at, count, l);
  return tree_fold(lanes);
}

/// The terms of the CUDA backend's per-channel batch-norm sums (block per
/// channel over tree_sum's tree) and its data gradient, written once for
/// the kernels and their host twin in tests/gpu.
HPCNN_HD double bn_square_term(float x, double mean) {
  const double d = x - mean;
  return d * d;
}
HPCNN_HD double bn_dgamma_term(float dy, float x, float mean, float inv_std) {
  return static_cast<double>(dy) * ((x - mean) * inv_std);
}
/// diff_x = k (M dy - diff_beta - xhat diff_gamma), k = gamma inv_std / M.
HPCNN_HD float bn_diff_src(float dy, float x, float mean, float inv_std, double k, double m, double db, double dg) {
  const double xhat = (x - mean) * inv_std;
  return static_cast<float>(k * (m * dy - db - xhat * dg));
}

}  // namespace hpcnn::kernels::maths
