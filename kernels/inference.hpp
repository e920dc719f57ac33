// Prepared operations of the inference engine (src/quant/): convolution and
// inner product on NHWC activations, with batch norm already folded into the
// weights and the activation fused, in FP32 or int8. int8 runs oneDNN's
// u8/s8 x s8 -> s32 kernels (AVX-512 VNNI or AMX where the CPU has them):
// the op quantises its FP32 input with one per-tensor scale, the weights
// carry one scale per output channel, and the output is dequantised to FP32
// (output scale = input scale x weight scale), the bias added and the
// activation applied inside the same kernel. Host memory only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hpcnn::kernels {

enum class Activation { kNone, kRelu, kRelu6 };

/// How an op's input is quantised (int8 only): q = round(x / scale),
/// saturated to u8 (a non-negative input) or s8.
struct InputQuant {
  float scale = 1.0f;
  bool is_unsigned = false;
};

/// An int8 op's input or output given as int8 already (no FP32 in between):
/// the producer writes what the consumer reads, quantised with the
/// consumer's input scale.
struct Int8Tensor {
  bool on = false;
  InputQuant quant;
};

struct InferConvSpec {
  int64_t n = 1, ic = 1, ih = 1, iw = 1;  ///< src (N, IH, IW, IC): NHWC
  int64_t oc = 1, kh = 1, kw = 1, stride = 1, groups = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t oh = 1, ow = 1;  ///< dst (N, OH, OW, OC)
  Activation act = Activation::kNone;
  bool int8 = false;
  InputQuant quant;       ///< int8 only
  bool src_int8 = false;  ///< int8: src is u8/s8 (quantised by its producer), not FP32
  Int8Tensor dst_int8;    ///< int8: write dst quantised with this scale instead of FP32
  /// dst += the conv's output (after the activation), as a oneDNN sum
  /// post-op: dst holds the tensor to add on entry (a residual add fused into
  /// the conv before it). An int8 dst holds it in its own units times
  /// `sum_scale` (that tensor's scale over dst's).
  bool sum = false;
  float sum_scale = 1.0f;
  /// Output pixels a sample the kernel choice counts (fp32_1x1_kernel), 0:
  /// oh x ow. A band of the op's rows (src/quant/band_schedule.hpp) passes
  /// the whole op's, so it runs the kernel the whole op would.
  int64_t rule_pixels = 0;
};

struct InferDenseSpec {
  int64_t n = 1, in = 1, out = 1;  ///< src (N, IN) -> dst (N, OUT)
  Activation act = Activation::kNone;
  bool int8 = false;
  InputQuant quant;
  bool src_int8 = false;
  Int8Tensor dst_int8;
};

/// Weights as the op reads them: FP32 (`f32`) or int8 (`s8` with one
/// `scales` entry per output channel: real weight = scale x s8), laid out
/// (OC, IC / groups, KH, KW) for a conv and (OUT, IN) for a dense layer;
/// `bias` (OC) FP32 in both.
struct InferWeights {
  const float* f32 = nullptr;
  const int8_t* s8 = nullptr;
  const float* scales = nullptr;
  const float* bias = nullptr;
};

class InferOp {
 public:
  virtual ~InferOp() = default;
  /// dst = act(op(src) + bias): FP32 in and out, or u8/s8 where the spec says so.
  virtual void run(const void* src, void* dst) = 0;
  /// oneDNN's implementation name, e.g. "brg:avx512_core_vnni" (which ISA it picked).
  virtual std::string implementation() const = 0;
};

/// oneDNN on the CPU with `threads` OpenMP threads (0: the runtime's default).
std::unique_ptr<InferOp> make_infer_conv(const InferConvSpec& spec, const InferWeights& w, int threads);
std::unique_ptr<InferOp> make_infer_dense(const InferDenseSpec& spec, const InferWeights& w, int threads);

/// How oneDNN's int8 kernels multiply on this CPU, decided from the ISA it
/// reports (`ONEDNN_MAX_CPU_ISA` included). With an int8 dot product (AVX-512
/// VNNI, AVX-VNNI, AMX) u8/s8 x s8 products accumulate exactly in s32.
/// Without one (AVX-512 without VNNI, AVX2, SSE4.1) oneDNN adds each pair of
/// u8 x s8 products in 16 bits with saturation (vpmaddubsw): 2 x 255 x 127 =
/// 64770 overflows 32767, and outputs were off by up to 35 quantisation steps.
/// oneDNN's int8 guide prescribes 7-bit weights there. For an s8 input oneDNN
/// shifts it to u8 and halves the weights itself in its weights reorder
/// (rounding as it likes); for a u8 input it does nothing. So the engine
/// fixes the 7-bit weights itself, once, at load: h = clamp(round(q / 2),
/// -63, 63) (half away from zero), and hands oneDNN h with the scale doubled
/// (u8 input: 2 x 255 x 63 = 32130 fits) or 2h with the scale kept (s8
/// input to a convolution: oneDNN's halving of an even value is exact; its
/// inner product does not halve, so a dense layer gets h with the scale
/// doubled for either input). Either way the kernels
/// multiply w = 2 x scale x h: at most one 8-bit step from the stored weight,
/// and exact arithmetic from there.
struct Int8Kernels {
  std::string isa;          ///< the best ISA oneDNN may use here, e.g. "avx2"
  bool dot_product = true;  ///< exact s32 accumulation of every product
  /// 8: weights as stored; 7: halved at load (h above).
  int weight_bits() const { return dot_product ? 8 : 7; }
  /// One line for logs and `infer`: e.g. "avx2 (no int8 dot product: weights used as 7-bit)".
  std::string describe() const;
};
Int8Kernels int8_kernels();

/// An 8-bit weight as the 7-bit kernels use it (Int8Kernels' h): q / 2
/// rounded half away from zero, within [-63, 63]; it stands for 2 x scale x h.
constexpr int8_t halve_int8_weight(int8_t q) {
  const int h = q >= 0 ? (q + 1) / 2 : -((1 - q) / 2);
  return static_cast<int8_t>(h > 63 ? 63 : (h < -63 ? -63 : h));
}

}  // namespace hpcnn::kernels
