// The layers of MobileNet-style networks on the host, shared by the CPU
// backends: batch normalisation, ReLU6, element-wise add, global average
// pooling and zero padding. Reductions run one channel (or plane) per thread
// in a fixed order and accumulate in double, so results do not depend on the
// thread count. tests/unit/test_reference_gradients.cpp checks every backward
// here against finite differences.
#include <cmath>
#include <cstring>
#include <vector>

#include "common/maths.hpp"
#include "host_backend.hpp"

namespace hpcnn::kernels {

namespace {

class HostBatchNorm final : public BatchNormOp {
 public:
  explicit HostBatchNorm(const NormGeometry& g)
      : g_(g), mean_(static_cast<size_t>(g.c)), inv_std_(static_cast<size_t>(g.c)) {}

  void forward_training(const float* src, const float* gamma, const float* beta, float* running_mean,
                        float* running_var, float* dst) override {
    const int64_t hw = g_.h * g_.w, m = g_.n * hw;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < g_.c; ++c) {
      double sum = 0.0;
      for (int64_t n = 0; n < g_.n; ++n) {
        const float* x = src + (n * g_.c + c) * hw;
        for (int64_t i = 0; i < hw; ++i) sum += x[i];
      }
      const double mean = sum / static_cast<double>(m);
      double sq = 0.0;
      for (int64_t n = 0; n < g_.n; ++n) {
        const float* x = src + (n * g_.c + c) * hw;
        for (int64_t i = 0; i < hw; ++i) sq += (x[i] - mean) * (x[i] - mean);
      }
      const double var = sq / static_cast<double>(m);
      const auto mean_f = static_cast<float>(mean);
      const auto inv_std = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(g_.epsilon)));
      mean_[static_cast<size_t>(c)] = mean_f;
      inv_std_[static_cast<size_t>(c)] = inv_std;
      normalise(src, dst, c, mean_f, inv_std, gamma[c], beta[c]);
      running_mean[c] = g_.momentum * running_mean[c] + (1.0f - g_.momentum) * mean_f;
      running_var[c] = g_.momentum * running_var[c] + (1.0f - g_.momentum) * static_cast<float>(var);
    }
  }

  void forward_inference(const float* src, const float* gamma, const float* beta, const float* running_mean,
                         const float* running_var, float* dst) override {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < g_.c; ++c) {
      const auto inv_std = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + g_.epsilon));
      normalise(src, dst, c, running_mean[c], inv_std, gamma[c], beta[c]);
    }
  }

  // With xhat = (x - mean) * inv_std and M = N * H * W per channel:
  //   diff_beta = sum dy, diff_gamma = sum dy * xhat,
  //   diff_x = gamma * inv_std / M * (M * dy - diff_beta - xhat * diff_gamma).
  void backward(const float* src, const float* diff_dst, const float* gamma, float* diff_src, float* diff_gamma,
                float* diff_beta) override {
    const int64_t hw = g_.h * g_.w, m = g_.n * hw;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < g_.c; ++c) {
      const float mean = mean_[static_cast<size_t>(c)], inv_std = inv_std_[static_cast<size_t>(c)];
      double db = 0.0, dg = 0.0;
      for (int64_t n = 0; n < g_.n; ++n) {
        const int64_t base = (n * g_.c + c) * hw;
        for (int64_t i = 0; i < hw; ++i) {
          db += diff_dst[base + i];
          dg += static_cast<double>(diff_dst[base + i]) * ((src[base + i] - mean) * inv_std);
        }
      }
      diff_beta[c] = static_cast<float>(db);
      diff_gamma[c] = static_cast<float>(dg);
      if (diff_src == nullptr) continue;
      const double k = static_cast<double>(gamma[c]) * inv_std / static_cast<double>(m);
      for (int64_t n = 0; n < g_.n; ++n) {
        const int64_t base = (n * g_.c + c) * hw;
        for (int64_t i = 0; i < hw; ++i) {
          const double xhat = (src[base + i] - mean) * inv_std;
          diff_src[base + i] = static_cast<float>(k * (static_cast<double>(m) * diff_dst[base + i] - db - xhat * dg));
        }
      }
    }
  }

 private:
  void normalise(const float* src, float* dst, int64_t c, float mean, float inv_std, float gamma, float beta) const {
    const int64_t hw = g_.h * g_.w;
    const float scale = gamma * inv_std;
    for (int64_t n = 0; n < g_.n; ++n) {
      const int64_t base = (n * g_.c + c) * hw;
      for (int64_t i = 0; i < hw; ++i) dst[base + i] = (src[base + i] - mean) * scale + beta;
    }
  }

  NormGeometry g_;
  std::vector<float> mean_, inv_std_;  ///< of the last training batch, per channel
};

}  // namespace

std::unique_ptr<BatchNormOp> HostBackend::make_batch_norm(const NormGeometry& g) {
  return std::make_unique<HostBatchNorm>(g);
}

void HostBackend::relu6_forward(const float* src, float* dst, int64_t count) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) dst[i] = maths::relu6(src[i]);
}

void HostBackend::relu6_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) diff_src[i] = maths::relu6_grad(dst[i], diff_dst[i]);
}

void HostBackend::add(const float* a, const float* b, float* dst, int64_t count) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) dst[i] = a[i] + b[i];
}

void HostBackend::global_avg_pool_forward(const float* src, float* dst, int64_t planes, int64_t plane_size) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    double sum = 0.0;
    for (int64_t i = 0; i < plane_size; ++i) sum += src[p * plane_size + i];
    dst[p] = static_cast<float>(sum / static_cast<double>(plane_size));
  }
}

void HostBackend::global_avg_pool_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t plane_size) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const auto d = static_cast<float>(static_cast<double>(diff_dst[p]) / static_cast<double>(plane_size));
    for (int64_t i = 0; i < plane_size; ++i) diff_src[p * plane_size + i] = d;
  }
}

void HostBackend::zero_pad_forward(const float* src, float* dst, int64_t planes, int64_t h, int64_t w, int64_t top,
                                   int64_t bottom, int64_t left, int64_t right) {
  const int64_t oh = top + h + bottom, ow = left + w + right;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    float* out = dst + p * oh * ow;
    std::memset(out, 0, static_cast<size_t>(oh * ow) * sizeof(float));
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(out + (y + top) * ow + left, src + (p * h + y) * w, static_cast<size_t>(w) * sizeof(float));
  }
}

void HostBackend::zero_pad_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t h, int64_t w,
                                    int64_t top, int64_t bottom, int64_t left, int64_t right) {
  const int64_t oh = top + h + bottom, ow = left + w + right;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(diff_src + (p * h + y) * w, diff_dst + p * oh * ow + (y + top) * ow + left,
                  static_cast<size_t>(w) * sizeof(float));
}

}  // namespace hpcnn::kernels
