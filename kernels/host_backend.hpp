// Shared by the CPU backends: host memory, element-wise ops, losses and
// optimizers as plain loops. The reference backend uses all of it; oneDNN
// overrides the prepared operations (and whatever it does faster).
#pragma once

#include "backend.hpp"

namespace hpcnn::kernels {

/// Max pooling on plain NCHW, parallel over (n, c) planes; each plane is one
/// thread's, so results do not depend on the thread count. oneDNN's pooling
/// is only fast on its blocked layouts, which the interface does not use.
std::unique_ptr<PoolOp> make_host_max_pool(const PoolGeometry& g);

class HostBackend : public Backend {
 public:
  DeviceKind device() const override { return DeviceKind::kCpu; }
  float* allocate(int64_t count) override;
  void release(float* p) override;
  void upload(float* dst, const float* host_src, int64_t count) override;
  void download(float* host_dst, const float* src, int64_t count) override;
  void copy(float* dst, const float* src, int64_t count) override;
  void fill(float* dst, float value, int64_t count) override;

  void relu_forward(const float* src, float* dst, int64_t count) override;
  void relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override;
  void multiply(const float* a, const float* b, float* dst, int64_t count) override;
  LossResult softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k, float scale,
                                   float* diff_logits) override;
  LossResult mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                                float* diff) override;
  void adam_update(float* params, const float* grads, float* m, float* v, int64_t count,
                   const AdamStep& step) override;
  void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                  float momentum) override;
};

}  // namespace hpcnn::kernels
