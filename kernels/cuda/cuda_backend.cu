// The CUDA backend: one GPU per rank, one compute stream with the cuDNN and
// cuBLAS handles bound to it, memory from the stream-ordered allocator. Its
// parts:
//
//   cuda_ops.cu       the prepared operations: conv on cuDNN, dense on
//                     cuBLAS, batch norm and max pooling on hpcnn's kernels
//   cuda_kernels.cu   hpcnn's own kernels over kernels/common/maths.hpp, the
//                     very functions the CPU backends run (compiled with
//                     --fmad=false: bitwise the host's results), each queued
//                     by one launch helper that checks the launch
//   this file         device, streams, handles, memory, transfers and the
//                     element-wise, loss and optimizer calls of the Backend
//
// Determinism: see cuda_kernels.cu (fixed-order sums, no atomics) and
// cuda_ops.cu (deterministic cuDNN algorithms, cuBLAS SGEMM).
//
// These files compile and link on every machine with the toolkit; they run
// only where a GPU is present (tools/gpu/verify.sh, tests/gpu).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include "backend.hpp"
#include "core/error.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_kernels.hpp"
#include "cuda/cuda_ops.hpp"

namespace hpcnn::kernels {

namespace {

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
      loss_ = gpu::Scratch(sizeof(gpu::DeviceLoss), stream_);
      HPCNN_CUDA(cudaMemsetAsync(loss_.as<void>(), 0, sizeof(gpu::DeviceLoss), stream_));
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
  void fill(float* dst, float value, int64_t count) override { gpu::fill(stream_, dst, value, count); }
  void synchronize() override { HPCNN_CUDA(cudaStreamSynchronize(stream_)); }
  TransferCounters transfers() const override {
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    return counters_;
  }
  void* native_stream() override { return stream_; }

  std::unique_ptr<ConvOp> make_conv(const ConvGeometry& g) override {
    return gpu::make_conv(dnn_, stream_, g, allow_tf32_);
  }
  std::unique_ptr<PoolOp> make_pool(const PoolGeometry& g) override { return gpu::make_pool(stream_, g); }
  std::unique_ptr<DenseOp> make_dense(const DenseGeometry& g) override { return gpu::make_dense(blas_, stream_, g); }

  void relu_forward(const float* src, float* dst, int64_t count) override { gpu::relu(stream_, src, dst, count); }
  void relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    gpu::relu_grad(stream_, dst, diff_dst, diff_src, count);
  }
  void multiply(const float* a, const float* b, float* dst, int64_t count) override {
    gpu::multiply(stream_, a, b, dst, count);
  }
  std::unique_ptr<BatchNormOp> make_batch_norm(const NormGeometry& g) override {
    return gpu::make_batch_norm(stream_, g);
  }
  void relu6_forward(const float* src, float* dst, int64_t count) override { gpu::relu6(stream_, src, dst, count); }
  void relu6_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    gpu::relu6_grad(stream_, dst, diff_dst, diff_src, count);
  }
  void add(const float* a, const float* b, float* dst, int64_t count) override { gpu::add(stream_, a, b, dst, count); }
  void global_avg_pool_forward(const float* src, float* dst, int64_t planes, int64_t plane_size) override {
    gpu::global_avg_pool(stream_, src, dst, planes, plane_size);
  }
  void global_avg_pool_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t plane_size) override {
    gpu::global_avg_pool_grad(stream_, diff_dst, diff_src, planes, plane_size);
  }
  void zero_pad_forward(const float* src, float* dst, int64_t planes, int64_t h, int64_t w, int64_t top, int64_t bottom,
                        int64_t left, int64_t right) override {
    gpu::pad(stream_, src, dst, planes, h, w, top, left, top + h + bottom, left + w + right);
  }
  void zero_pad_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t h, int64_t w, int64_t top,
                         int64_t bottom, int64_t left, int64_t right) override {
    gpu::crop(stream_, diff_dst, diff_src, planes, h, w, top, left, top + h + bottom, left + w + right);
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
    gpu::softmax_cross_entropy(stream_, logits, labels, n, k, scale, diff_logits, row_loss(), row_correct(n),
                               loss_.as<gpu::DeviceLoss>());
  }
  void mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                          float* diff) override {
    const int64_t count = n * t;
    if (count <= 0) return;
    rows(count);
    gpu::squared_error(stream_, pred, target, count, t, scale, diff, row_loss(), row_correct(count),
                       loss_.as<gpu::DeviceLoss>());
  }
  LossResult read_loss() override {
    gpu::DeviceLoss host{};
    HPCNN_CUDA(cudaMemcpyAsync(&host, loss_.as<void>(), sizeof host, cudaMemcpyDeviceToHost, stream_));
    HPCNN_CUDA(cudaMemsetAsync(loss_.as<void>(), 0, sizeof(gpu::DeviceLoss), stream_));
    HPCNN_CUDA(cudaStreamSynchronize(stream_));
    count_down(sizeof host);
    return {host.loss_sum, static_cast<int64_t>(host.correct)};
  }

  void adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& s) override {
    gpu::adam(stream_, params, grads, m, v, count, s);
  }
  void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                  float momentum) override {
    gpu::sgd(stream_, params, grads, velocity, count, lr, momentum);
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
    scratch_rows_ = gpu::Scratch();
    scratch_labels_ = gpu::Scratch();
    scratch_samples_ = gpu::Scratch();
    loss_ = gpu::Scratch();
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
  const T* stage(gpu::Scratch& buffer, const T* host, int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    if (buffer.bytes() < bytes) buffer = gpu::Scratch(bytes, stream_);
    HPCNN_CUDA(cudaMemcpyAsync(buffer.as<void>(), host, bytes, cudaMemcpyHostToDevice, stream_));
    count_up(static_cast<int64_t>(bytes));
    return buffer.as<T>();
  }
  void dropout(const float* x, float* y, int64_t n, int64_t per_sample, const int64_t* host_samples,
               const DropoutParams& d) {
    if (n * per_sample <= 0) return;
    gpu::dropout(stream_, x, y, n, per_sample, stage(scratch_samples_, host_samples, n), d);
  }
  /// Per-row loss and correct-count scratch for `n` rows.
  void rows(int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * (sizeof(double) + sizeof(long long));
    if (scratch_rows_.bytes() < bytes) scratch_rows_ = gpu::Scratch(bytes, stream_);
  }
  double* row_loss() { return scratch_rows_.as<double>(); }
  long long* row_correct(int64_t n) { return reinterpret_cast<long long*>(scratch_rows_.as<double>() + n); }

  bool allow_tf32_ = false;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaStream_t copy_stream_ = nullptr;  ///< downloads, ordered after the compute stream by an event
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  gpu::Scratch loss_, scratch_rows_, scratch_labels_, scratch_samples_;
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
