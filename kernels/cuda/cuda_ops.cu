// The CUDA backend's prepared operations, one object per geometry.
//
//   conv          cuDNN, NCHW float, algorithms chosen once per shape among
//                 the deterministic ones, no TF32 unless --allow-tf32
//   dense         cuBLAS SGEMM (row-major through the column-major trick),
//                 FP32 (CUBLAS_DEFAULT_MATH, set by the backend) unless --allow-tf32
//   batch norm,   hpcnn's kernels (cuda_kernels.cu)
//   max pooling
//
// cuDNN API: the legacy convolution API (cudnnConvolutionForward and
// friends). cuDNN 9 deprecates it in favour of the graph API but still ships
// and supports it; its deprecation warnings only appear when
// CUDNN_WARN_DEPRECATED is defined, which this build does not. The graph API
// would take a frontend library (not in the toolkit) or several hundred lines
// of backend descriptors for the same three calls; revisit when a cuDNN
// release drops the legacy API.
//
// Determinism: cuDNN is restricted to algorithms it reports as
// deterministic, cuBLAS's SGEMM is deterministic for a fixed configuration.
#include "cuda/cuda_ops.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "cuda/conv_algo_choice.hpp"
#include "cuda/cuda_kernels.hpp"

namespace hpcnn::kernels::gpu {

namespace {

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
    gpu::add_bias(stream_, dst, bias, g_.n, g_.oc, g_.oh * g_.ow);
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    const float one = 1.0f, zero = 0.0f;
    float* out = explicit_pad_ ? padded_diff_.as<float>() : diff_src;
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, bwd_data_math_));
    HPCNN_CUDNN(cudnnConvolutionBackwardData(dnn_, &one, w_, weights, dst_, diff_dst, conv_, bwd_data_algo_,
                                             ws_.as<void>(), ws_.bytes(), &zero, src_, out));
    if (explicit_pad_) {
      const int64_t planes = g_.n * g_.ic;
      gpu::crop(stream_, out, diff_src, planes, g_.ih, g_.iw, g_.pad_top, g_.pad_left, ph_, pw_);
    }
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    const float one = 1.0f, zero = 0.0f;
    HPCNN_CUDNN(cudnnSetConvolutionMathType(conv_, bwd_filter_math_));
    HPCNN_CUDNN(cudnnConvolutionBackwardFilter(dnn_, &one, src_, input(src), dst_, diff_dst, conv_, bwd_filter_algo_,
                                               ws_.as<void>(), ws_.bytes(), &zero, w_, diff_weights));
    if (diff_bias == nullptr) return;
    gpu::bias_grad(stream_, diff_dst, diff_bias, g_.n, g_.oc, g_.oh * g_.ow);
  }

 private:
  /// src as the convolution reads it: itself, or padded into the scratch.
  const float* input(const float* src) {
    if (!explicit_pad_) return src;
    const int64_t planes = g_.n * g_.ic;
    gpu::pad(stream_, src, padded_.as<float>(), planes, g_.ih, g_.iw, g_.pad_top, g_.pad_left, ph_, pw_);
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
    gpu::batch_norm_stats(stream_, src, g_, mean(), inv_std(), running_mean, running_var);
    normalize(src, gamma, beta, dst);
  }
  void forward_inference(const float* src, const float* gamma, const float* beta, const float* running_mean,
                         const float* running_var, float* dst) override {
    // Uses its own copy of the statistics: the batch's (for backward) stay put.
    if (running_.bytes() == 0) running_ = Scratch(static_cast<size_t>(2 * g_.c) * sizeof(float), stream_);
    float* m = running_.as<float>();
    gpu::batch_norm_running(stream_, g_, running_mean, running_var, m, m + g_.c);
    gpu::batch_norm_normalize(stream_, src, dst, g_, m, m + g_.c, gamma, beta);
  }
  void backward(const float* src, const float* diff_dst, const float* gamma, float* diff_src, float* diff_gamma,
                float* diff_beta) override {
    gpu::batch_norm_backward(stream_, src, diff_dst, gamma, g_, mean(), inv_std(), diff_src, diff_gamma, diff_beta);
  }

 private:
  float* mean() const { return stats_.as<float>(); }
  float* inv_std() const { return stats_.as<float>() + g_.c; }
  void normalize(const float* src, const float* gamma, const float* beta, float* dst) {
    gpu::batch_norm_normalize(stream_, src, dst, g_, mean(), inv_std(), gamma, beta);
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
  void forward(const float* src, float* dst) override { gpu::max_pool(stream_, src, dst, argmax_.as<int64_t>(), g_); }
  void backward(const float* diff_dst, float* diff_src) override {
    gpu::max_pool_grad(stream_, diff_dst, argmax_.as<int64_t>(), diff_src, g_);
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
    gpu::add_bias(stream_, dst, bias, g_.n, g_.out, 1);
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
    gpu::bias_grad(stream_, diff_dst, diff_bias, g_.n, g_.out, 1);
  }

 private:
  cublasHandle_t blas_;
  cudaStream_t stream_;
  DenseGeometry g_;
};

}  // namespace

std::unique_ptr<ConvOp> make_conv(cudnnHandle_t dnn, cudaStream_t stream, const ConvGeometry& g, bool allow_tf32) {
  return std::make_unique<CudaConv>(dnn, stream, g, allow_tf32);
}
std::unique_ptr<BatchNormOp> make_batch_norm(cudaStream_t stream, const NormGeometry& g) {
  return std::make_unique<CudaBatchNorm>(stream, g);
}
std::unique_ptr<PoolOp> make_pool(cudaStream_t stream, const PoolGeometry& g) {
  return std::make_unique<CudaPool>(stream, g);
}
std::unique_ptr<DenseOp> make_dense(cublasHandle_t blas, cudaStream_t stream, const DenseGeometry& g) {
  return std::make_unique<CudaDense>(blas, stream, g);
}

}  // namespace hpcnn::kernels::gpu
