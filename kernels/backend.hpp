// The one narrow interface between the training code and the compute kernels.
//
// A Backend owns its device (memory, streams, engines) and makes prepared
// operations for fixed shapes: oneDNN builds its primitives once per shape,
// cuDNN picks its algorithms once per shape, the reference backend just loops.
// Every pointer crossing this interface is *device* memory of that backend
// (host memory for CPU backends); the model never dereferences it. Host data
// goes in and out through upload()/download(). Nothing here assumes a CPU.
//
// Layouts (plain, row-major) at the interface:
//   activations   src/dst        (N, C, H, W)
//   conv weights  weights        (OC, IC / groups, KH, KW)  conv bias (OC)
//   dense weights weights        (OUT, IN)            dense bias (OUT)
// Backward calls *overwrite* their outputs (diff_src, diff_weights, diff_bias).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hpcnn::kernels {

enum class DeviceKind { kCpu, kGpu };

struct ConvGeometry {
  int64_t n = 1, ic = 1, ih = 1, iw = 1;  ///< src (N, IC, IH, IW)
  int64_t oc = 1, kh = 1, kw = 1;         ///< weights (OC, IC, KH, KW)
  int64_t stride = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t oh = 1, ow = 1;  ///< dst (N, OC, OH, OW)
  /// src (and diff_src) / dst (and diff_dst) in the backend's private layout
  /// instead of plain NCHW (see Backend::has_private_layout); the model sets
  /// these only where both sides of the tensor agreed.
  bool src_private = false, dst_private = false;
  /// forward also applies ReLU to dst (only when Backend::fuses_conv_relu()).
  bool relu = false;
  /// Grouped convolution: input and output channels split into `groups`
  /// equal parts, output group g seeing input group g only; groups == ic ==
  /// oc is a depthwise convolution (MobileNet). Weights (OC, IC / groups, KH, KW).
  int64_t groups = 1;
  /// false: no bias (forward's bias and backward_weights' diff_bias are null).
  bool bias = true;
};

/// Batch normalisation over (N, H, W) per channel, as Keras's
/// BatchNormalization on channels: y = gamma * (x - mean) / sqrt(var + epsilon) + beta.
struct NormGeometry {
  int64_t n = 1, c = 1, h = 1, w = 1;  ///< src and dst (N, C, H, W)
  float epsilon = 1e-3f;
  float momentum = 0.99f;  ///< running = momentum * running + (1 - momentum) * batch statistic
};

struct PoolGeometry {
  int64_t n = 1, c = 1, ih = 1, iw = 1;  ///< src (N, C, IH, IW)
  int64_t kernel = 1, stride = 1;        ///< max pooling, no padding
  int64_t oh = 1, ow = 1;                ///< dst (N, C, OH, OW)
  /// backward also applies the gradient of the ReLU whose output src is:
  /// gradient only where the window's maximum is > 0 (only when
  /// Backend::fuses_relu_into_pool()).
  bool relu_grad = false;
};

struct DenseGeometry {
  int64_t n = 1, in = 1, out = 1;  ///< src (N, IN) -> dst (N, OUT)
};

/// Convolution prepared for one geometry.
class ConvOp {
 public:
  virtual ~ConvOp() = default;
  /// dst = conv(src, weights) + bias
  virtual void forward(const float* src, const float* weights, const float* bias, float* dst) = 0;
  /// diff_src = conv_transpose(diff_dst, weights)
  virtual void backward_data(const float* diff_dst, const float* weights, float* diff_src) = 0;
  /// diff_weights = corr(src, diff_dst); diff_bias = sum of diff_dst over N, OH, OW
  virtual void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) = 0;
};

/// Max pooling prepared for one geometry; forward keeps what backward needs
/// (argmax workspace), so backward must follow the forward of the same batch.
class PoolOp {
 public:
  virtual ~PoolOp() = default;
  virtual void forward(const float* src, float* dst) = 0;
  virtual void backward(const float* diff_dst, float* diff_src) = 0;
  /// The same dst as forward, keeping nothing for backward (evaluation):
  /// a backend may skip the argmax there.
  virtual void forward_inference(const float* src, float* dst) { forward(src, dst); }
};

/// Batch normalisation prepared for one geometry. gamma, beta, running_mean
/// and running_var are (C) vectors.
class BatchNormOp {
 public:
  virtual ~BatchNormOp() = default;
  /// Training: normalises with the batch's mean and (biased) variance per
  /// channel, keeps them for backward, and moves the running statistics
  /// towards them (Keras: the batch variance, no Bessel correction).
  virtual void forward_training(const float* src, const float* gamma, const float* beta, float* running_mean,
                                float* running_var, float* dst) = 0;
  /// Inference (and frozen layers): normalises with the running statistics.
  virtual void forward_inference(const float* src, const float* gamma, const float* beta, const float* running_mean,
                                 const float* running_var, float* dst) = 0;
  /// After forward_training of the same batch: overwrites diff_src (may be
  /// null: not needed), diff_gamma and diff_beta.
  virtual void backward(const float* src, const float* diff_dst, const float* gamma, float* diff_src, float* diff_gamma,
                        float* diff_beta) = 0;
};

/// Fully-connected layer prepared for one geometry.
class DenseOp {
 public:
  virtual ~DenseOp() = default;
  /// dst = src * weights^T + bias
  virtual void forward(const float* src, const float* weights, const float* bias, float* dst) = 0;
  /// diff_src = diff_dst * weights
  virtual void backward_data(const float* diff_dst, const float* weights, float* diff_src) = 0;
  /// diff_weights = diff_dst^T * src; diff_bias = column sums of diff_dst
  virtual void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) = 0;
};

/// Sum over the batch of the per-sample loss, and (classification) how many
/// samples had the label as their arg-max.
struct LossResult {
  double loss_sum = 0.0;
  int64_t correct = 0;
};

/// A dropout layer's mask parameters for one step (see Backend::dropout_forward).
struct DropoutParams {
  uint64_t layer_key = 0;   ///< derive_key({seed, "DROP", epoch, layer}) (model/model.cpp)
  uint32_t threshold = 0;   ///< maths::dropout_threshold(rate)
  float keep_scale = 1.0f;  ///< 1 / (1 - rate)
};

/// Bytes a backend moved between host and device memory since it was made
/// (zero for host backends, whose upload/download are plain copies).
struct TransferCounters {
  int64_t host_to_device_bytes = 0;
  int64_t device_to_host_bytes = 0;
  int64_t uploads = 0, downloads = 0;  ///< calls
  int64_t host_buffers = 0;            ///< allocate_host buffers not yet released (GPU and poisoned backends)
};

/// Adam as Keras does it: m, v updated, then
/// param -= lr_t * m / (sqrt(v) + epsilon) with lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t).
struct AdamStep {
  float lr_t = 0.0f, beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual DeviceKind device() const = 0;

  // ---- memory ---------------------------------------------------------------
  virtual float* allocate(int64_t count) = 0;  ///< zero-initialised
  virtual void release(float* p) = 0;
  virtual void upload(float* dst, const float* host_src, int64_t count) = 0;
  virtual void download(float* host_dst, const float* src, int64_t count) = 0;
  virtual void copy(float* dst, const float* src, int64_t count) = 0;
  virtual void fill(float* dst, float value, int64_t count) = 0;
  /// Host memory for staging transfers (the staged reducer's block buffer),
  /// zero-initialised: page-locked on a GPU backend (cudaMallocHost, so a
  /// copy is a DMA that runs asynchronously instead of a bounce through a
  /// driver buffer), plain memory elsewhere. Free it with release_host.
  virtual float* allocate_host(int64_t count);
  virtual void release_host(float* p);
  /// Waits until queued work is done (GPU); a no-op for synchronous backends.
  virtual void synchronize() {}
  /// Host<->device traffic so far (a GPU backend and the poisoned test
  /// backend count it; host backends report zeros).
  virtual TransferCounters transfers() const { return {}; }
  /// The native compute stream (a cudaStream_t) that every operation of this
  /// backend is queued on, for a communicator that must order its work after
  /// it (NCCL); nullptr for host backends.
  virtual void* native_stream() { return nullptr; }

  // ---- prepared operations ------------------------------------------------
  // The three capability predicates below are optimisations a backend may
  // offer; only onednn says yes (kernels/onednn/onednn_backend.cpp). The
  // model sets the matching geometry flag only where the predicate says yes
  // (src/model/model.cpp); set anyway, cuda refuses it ("conv options this
  // backend does not offer") and the reference backend ignores it.
  /// Whether make_conv honours ConvGeometry::relu (a ReLU fused into the
  /// convolution's forward, saving a pass over its output). Default: no.
  virtual bool fuses_conv_relu() const { return false; }
  /// Whether make_pool honours PoolGeometry::relu_grad (a ReLU's backward
  /// folded into the max-pool's after it, saving a pass). Default: no.
  virtual bool fuses_relu_into_pool() const { return false; }
  /// Whether convolutions of this backend can hand (N, C, H, W) activations
  /// with `channels` channels to each other in a private layout (oneDNN:
  /// nChw16c), skipping the reorders to and from plain NCHW at each op's
  /// edge (ConvGeometry::src_private / dst_private). A private tensor holds
  /// exactly N*C*H*W floats (no padding), so ReLU and its gradient, being
  /// element-wise, run on it unchanged; no other op may read it. The model
  /// keeps a tensor private only between a conv and a following ReLU + conv.
  /// Default: no private layout.
  virtual bool has_private_layout(int64_t channels) const {
    (void)channels;
    return false;
  }
  virtual std::unique_ptr<ConvOp> make_conv(const ConvGeometry& g) = 0;
  virtual std::unique_ptr<PoolOp> make_pool(const PoolGeometry& g) = 0;
  virtual std::unique_ptr<DenseOp> make_dense(const DenseGeometry& g) = 0;
  /// The layers of MobileNet-style networks (batch norm here; ReLU6, add,
  /// global average pooling and zero padding below): every backend
  /// implements them (host_layers.cpp for onednn and reference, its own
  /// kernels for cuda, the reference's behind device pointers for poisoned).
  virtual std::unique_ptr<BatchNormOp> make_batch_norm(const NormGeometry& g) = 0;

  // ---- element-wise (count elements) ----------------------------------------
  virtual void relu_forward(const float* src, float* dst, int64_t count) = 0;
  /// diff_src = diff_dst where dst > 0, else 0 (dst: the forward output)
  virtual void relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) = 0;
  /// dst = a * b
  virtual void multiply(const float* a, const float* b, float* dst, int64_t count) = 0;
  /// dst = min(max(src, 0), 6)
  virtual void relu6_forward(const float* src, float* dst, int64_t count) = 0;
  /// diff_src = diff_dst where 0 < dst < 6, else 0 (dst: the forward output)
  virtual void relu6_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) = 0;
  /// dst = a + b (dst may be a or b): residual connections and the sum of a
  /// tensor's gradients from its two consumers.
  virtual void add(const float* a, const float* b, float* dst, int64_t count) = 0;

  // ---- spatial reshaping ops on (planes = N * C, H, W) ------------------------
  /// dst (planes) = mean of each H x W plane of src.
  virtual void global_avg_pool_forward(const float* src, float* dst, int64_t planes, int64_t plane_size) = 0;
  /// diff_src = diff_dst / plane_size broadcast over each plane.
  virtual void global_avg_pool_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t plane_size) = 0;
  /// dst (planes, top + H + bottom, left + W + right) = src padded with zeros.
  virtual void zero_pad_forward(const float* src, float* dst, int64_t planes, int64_t h, int64_t w, int64_t top,
                                int64_t bottom, int64_t left, int64_t right) = 0;
  /// diff_src (planes, H, W) = the interior of diff_dst (the crop).
  virtual void zero_pad_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t h, int64_t w,
                                 int64_t top, int64_t bottom, int64_t left, int64_t right) = 0;

  // ---- dropout (counter-based masks, kernels/common/maths.hpp) ---------------
  /// dst = src * mask and backward diff_src = diff_dst * mask, where the mask of
  /// element e of sample s (N samples of `per_sample` elements) is
  /// maths::dropout_mask_value(maths::dropout_sample_key(d.layer_key,
  /// host_sample_indices[s]), e, d.threshold, d.keep_scale). No mask is stored:
  /// backward recomputes it from the same arguments. `host_sample_indices` (N)
  /// is host memory (the batch's global sample indices).
  virtual void dropout_forward(const float* src, float* dst, int64_t n, int64_t per_sample,
                               const int64_t* host_sample_indices, const DropoutParams& d) = 0;
  virtual void dropout_backward(const float* diff_dst, float* diff_src, int64_t n, int64_t per_sample,
                                const int64_t* host_sample_indices, const DropoutParams& d) = 0;

  // ---- losses ----------------------------------------------------------------
  // The loss functions add the batch's summed loss and correct count to an
  // accumulator kept on the device and return at once; read_loss() waits for
  // the queued work, returns the accumulated result and zeroes it. So a GPU
  // step runs forward, loss, backward and the optimizer without a host
  // round trip, and the metrics are read once at its end.
  /// logits (N, K), labels (N) given on the host; diff_logits = scale * (softmax - onehot).
  virtual void softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k, float scale,
                                     float* diff_logits) = 0;
  /// pred, target (N, T); per-sample loss = mean over T of (pred - target)^2;
  /// diff = scale * 2 (pred - target) / T. `target` is device memory.
  virtual void mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                                  float* diff) = 0;
  virtual LossResult read_loss() = 0;

  // ---- optimizers over flat buffers ----------------------------------------
  virtual void adam_update(float* params, const float* grads, float* m, float* v, int64_t count,
                           const AdamStep& step) = 0;
  /// Keras SGD: velocity = momentum * velocity - lr * grad; param += velocity.
  virtual void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                          float momentum) = 0;
};

/// The backends a command can ask for, by name: the one list used by --help,
/// parsing and error messages. `poisoned` is the test backend of
/// kernels/poisoned/: the reference backend behind device pointers the host
/// cannot dereference, reporting itself as a GPU.
enum class BackendKind { kOnednn, kReference, kCuda, kPoisoned };
const char* backend_name(BackendKind kind);
/// "onednn | reference | cuda | poisoned", for --help.
std::string backend_choices();
/// The kind named `text`; throws UsageError listing the names otherwise.
BackendKind parse_backend(const std::string& text);

/// The arithmetic of the convolutions. FP32 is the default and bit-reproducible;
/// BF16 (onednn only, on CPUs with AVX512-BF16 or AMX) converts a conv's
/// inputs to bfloat16 and accumulates in FP32, while weights, optimizer state,
/// activations between layers and dense layers stay FP32.
enum class Precision { kFp32, kBf16 };
const char* precision_name(Precision p);
/// "fp32" or "bf16"; throws UsageError otherwise.
Precision parse_precision(const std::string& text);
/// Whether oneDNN computes BF16 natively on this CPU; `isa`, when given,
/// receives the best instruction set oneDNN found ("avx512_core_bf16").
bool cpu_computes_bf16(std::string* isa = nullptr);

/// How to make a backend.
struct BackendOptions {
  int threads = 0;          ///< CPU compute threads (0: the runtime's default)
  int gpu = -1;             ///< CUDA device; -1: local_rank % visible devices
  int local_rank = 0;       ///< this rank's index among the ranks of its node
  bool allow_tf32 = false;  ///< cuda: let cuDNN/cuBLAS use TF32 tensor cores
  Precision precision = Precision::kFp32;
};

/// A backend of `kind`. Throws UsageError (one line, the CUDA error named)
/// when `cuda` is asked for and no GPU is usable or the build has no CUDA.
std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& options);
/// Shorthand: `kind` with `threads` compute threads (0: the runtime's default).
std::unique_ptr<Backend> make_backend(BackendKind kind, int threads);

/// The reference backend: plain loops on the host, the oracle of every test.
std::unique_ptr<Backend> make_reference_backend();
/// oneDNN on the CPU with `threads` OpenMP threads (0: leave the runtime's
/// default). BF16 on a CPU without it: UsageError naming the ISA found.
std::unique_ptr<Backend> make_onednn_backend(int threads, Precision precision = Precision::kFp32);
/// cuDNN + cuBLAS + hpcnn's CUDA kernels on one GPU (kernels/cuda/).
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);
/// True when this build contains the CUDA backend.
bool cuda_backend_compiled();
/// The poisoned-device test backend (kernels/poisoned/).
std::unique_ptr<Backend> make_poisoned_backend();

}  // namespace hpcnn::kernels
