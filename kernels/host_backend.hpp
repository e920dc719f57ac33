// Shared by the CPU backends: host memory, element-wise ops, dropout, losses
// and optimizers as loops over the shared maths of kernels/common/maths.hpp
// (the very functions the CUDA kernels run). oneDNN overrides the prepared
// operations; the reference backend overrides everything with its own
// textbook loops, the oracle these are tested against.
#pragma once

#include "backend.hpp"

namespace hpcnn::kernels {

/// Max pooling on plain NCHW, parallel over (n, c) planes; each plane is one
/// thread's, so results do not depend on the thread count. oneDNN's pooling
/// is only fast on its blocked layouts, which the interface does not use.
std::unique_ptr<PoolOp> make_host_max_pool(const PoolGeometry& g);

/// Direct convolution on the host for few channels (kernels/host_conv.cpp):
/// tiny-cnn's 1 -> 4 and 4 -> 4 channel 2x2 convolutions, where oneDNN 2.6
/// has only im2col + GEMM on plain NCHW (blocked layouts would pad 4
/// channels to 16). Rows of outputs are computed 8 lanes at a time from
/// zero-padded copies of the input, four output channels per pass over it;
/// every output element and every weight gradient is one thread's, summed
/// in a fixed order, so results do not depend on the thread count. Takes
/// groups == 1, stride 1, fewer than 16 input and output channels, kernels
/// square and up to 7x7 with padding below the kernel size, rows up to 256, plain NCHW
/// on both sides; ConvGeometry::relu is honoured.
bool host_small_conv_suits(const ConvGeometry& g);
std::unique_ptr<ConvOp> make_host_small_conv(const ConvGeometry& g);

/// Sets flush-to-zero and denormals-are-zero (x86 MXCSR) on the calling
/// thread and on every thread of the OpenMP pool, which oneDNN and the host
/// loops compute on. Without it Adam's moment estimates drift into denormal
/// range after a few hundred steps and every optimizer pass slows down:
/// mlp:800-400-208 at batch 100, 2 threads, median optimizer phase 0.62 ms
/// over steps 11-310 against 1.33 ms over steps 611-810 (AMD EPYC; 0.40 vs
/// 5.7 ms measured on an Intel Xeon). TensorFlow does the same. Denormals
/// (|x| < 1.2e-38) then read and compute as zero; the results stay
/// deterministic. Called by every CPU backend when it is made; a no-op on
/// CPUs without SSE.
void flush_denormals_on_compute_threads();
/// True when the calling thread and every OpenMP pool thread flush denormals.
bool denormals_flushed_on_compute_threads();

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
  // The MobileNet layers (kernels/host_layers.cpp): plain loops, parallel
  // over channels or planes, each reduced by one thread in a fixed order.
  std::unique_ptr<BatchNormOp> make_batch_norm(const NormGeometry& g) override;
  void relu6_forward(const float* src, float* dst, int64_t count) override;
  void relu6_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override;
  void add(const float* a, const float* b, float* dst, int64_t count) override;
  void global_avg_pool_forward(const float* src, float* dst, int64_t planes, int64_t plane_size) override;
  void global_avg_pool_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t plane_size) override;
  void zero_pad_forward(const float* src, float* dst, int64_t planes, int64_t h, int64_t w, int64_t top, int64_t bottom,
                        int64_t left, int64_t right) override;
  void zero_pad_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t h, int64_t w, int64_t top,
                         int64_t bottom, int64_t left, int64_t right) override;
  void dropout_forward(const float* src, float* dst, int64_t n, int64_t per_sample, const int64_t* host_sample_indices,
                       const DropoutParams& d) override;
  void dropout_backward(const float* diff_dst, float* diff_src, int64_t n, int64_t per_sample,
                        const int64_t* host_sample_indices, const DropoutParams& d) override;
  void softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k, float scale,
                             float* diff_logits) override;
  void mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                          float* diff) override;
  LossResult read_loss() override;
  void adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& step) override;
  void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr, float momentum) override;

 protected:
  LossResult loss_;  ///< accumulated by the loss functions until read_loss()
};

}  // namespace hpcnn::kernels
