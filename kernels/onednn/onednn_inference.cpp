// The inference engine's convolution and inner product on oneDNN
// (kernels/inference.hpp). Activations are NHWC at the interface; weights
// are reordered once, at creation, into the layout the primitive chose.
// int8: the FP32 input is quantised by a oneDNN reorder (round to nearest,
// saturate) into u8/s8, the primitive multiplies s8 weights and accumulates
// in s32, then applies output scale = input scale x weight scale per output
// channel (the bias, pre-divided by it, joins the accumulator first) and
// applies the activation as a post-op.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "host_backend.hpp"
#include "inference.hpp"

namespace hpcnn::kernels {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

/// The activation as a post-op (nothing for kNone). It acts on the scaled
/// output: with an int8 dst of scale s, ReLU6's bound is 6 / s.
/// With `sum`, dst += that result (times sum_scale) after the activation.
dnnl::primitive_attr make_attr(Activation act, const std::vector<float>* scales, float dst_scale, bool sum = false,
                               float sum_scale = 1.0f) {
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  if (act == Activation::kRelu) {
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  } else if (act == Activation::kRelu6) {
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f / dst_scale);
  }
  if (sum) ops.append_sum(sum_scale);
  if (ops.len() > 0) attr.set_post_ops(ops);
  // Each op owns its scratchpad. oneDNN's default (library mode) shares one
  // per thread that made the primitive, and the band schedule
  // (src/quant/band_schedule.hpp) makes every band's kernel on one thread and
  // runs them on several at once: with the shared one, concurrent bands
  // overwrote each other's scratch (logits wrong in the band tests).
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  // Per output channel: dim 1 of dst (N, C, ...).
  if (scales != nullptr) attr.set_output_scales(1 << 1, *scales);
  return attr;
}

/// Ops of fewer multiply-adds per run than this run on one thread when the
/// engine has several: a tiny op (MobileNetV2 0.35's depthwise layers at 6x6
/// and 3x3 at batch 1: 27k-62k multiply-adds, 1.0-1.6 us on one thread, AMD
/// EPYC) gains less from splitting than an OpenMP fork and join costs. At
/// 65536 that is the ops under ~2 us on one thread there; the figure is a
/// bound from that single-thread cost, not a tuned optimum.
/// HPCNN_INFER_SERIAL_MACS=N sets it (0: every op uses every thread), for
/// measurements.
int64_t serial_macs() {
  static const int64_t value = [] {
    const char* env = std::getenv("HPCNN_INFER_SERIAL_MACS");
    if (env == nullptr) return int64_t{65536};
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    HPCNN_CHECK(*env != '\0' && *end == '\0' && v >= 0, "HPCNN_INFER_SERIAL_MACS='", env,
                "' (expected a count of multiply-adds, 0 or more)");
    return static_cast<int64_t>(v);
  }();
  return value;
}

/// While alive and `on`, oneDNN runs on one OpenMP thread (its jit kernels
/// read the thread count when made, its depthwise one when run); then the
/// engine's team again.
class OneThread {
 public:
  OneThread(bool on, int team) : on_(on), team_(team) {
    if (on_) omp_set_num_threads(1);
  }
  ~OneThread() {
    if (on_) omp_set_num_threads(team_);
  }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  bool on_;
  int team_;
};

/// Shared by conv and dense: the engine, the quantising reorder of the
/// input, and the weights and bias in the primitive's layouts. `macs`: the
/// op's multiply-adds per run (serial_macs).
class InferBase : public InferOp {
 protected:
  InferBase(int threads, bool int8, const InputQuant& quant, int64_t macs) : int8_(int8), quant_(quant) {
    if (threads > 0) omp_set_num_threads(threads);
    team_ = omp_get_max_threads();
    serial_ = team_ > 1 && macs < serial_macs();
    flush_denormals_on_compute_threads();
  }

  /// The weights handed to oneDNN: as given, or (no int8 dot product) the
  /// 7-bit h of Int8Kernels, as h with doubled scales for a u8 input and,
  /// for a convolution, as 2h (which oneDNN halves exactly) with the scales
  /// kept for an s8 input. oneDNN's inner product does not halve its weights
  /// for an s8 input (`halves_s8` false): with 2h it saturated and a dense
  /// layer reading a signed input was off by 5 % under AVX2 and AVX-512
  /// without VNNI, so it gets h with doubled scales for either input.
  InferWeights kernel_weights(const InferWeights& w, int64_t count, int64_t outputs, bool halves_s8) {
    if (!int8_ || int8_kernels().dot_product) return w;
    const bool as_u8 = quant_.is_unsigned || !halves_s8;
    const int times = as_u8 ? 1 : 2;
    halved_.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      halved_[static_cast<size_t>(i)] = static_cast<int8_t>(times * halve_int8_weight(w.s8[i]));
    doubled_.resize(static_cast<size_t>(outputs));
    for (int64_t c = 0; c < outputs; ++c) doubled_[static_cast<size_t>(c)] = (as_u8 ? 2.0f : 1.0f) * w.scales[c];
    InferWeights k = w;
    k.s8 = halved_.data();
    k.scales = doubled_.data();
    return k;
  }

  /// Output scales (int8): input scale x weight scale per output channel,
  /// over the dst scale when dst is int8.
  void set_out_scales(const float* wscales, int64_t count, const Int8Tensor& dst) {
    for (int64_t c = 0; c < count; ++c)
      out_scales_.push_back(quant_.scale * wscales[c] / (dst.on ? dst.quant.scale : 1.0f));
    bias_div_ = quant_.scale;
    wscales_.assign(wscales, wscales + count);
  }

  /// Prepares the src side: the user's FP32 `user` tensor, quantised (int8)
  /// into the primitive's `working` descriptor, or handed over as is.
  void prepare_src(const memory::desc& user, const memory::desc& working) {
    src_user_ = memory(user, engine_, nullptr);
    if (working != user) {
      src_working_ = memory(working, engine_);
      dnnl::primitive_attr attr;
      if (int8_) attr.set_output_scales(0, {1.0f / quant_.scale});
      src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(engine_, user, engine_, working, attr));
    }
  }

  /// Weights from the user's plain buffer into the primitive's layout, once.
  memory prepare_weights(const memory::desc& user, const memory::desc& working, const void* data) {
    memory u(user, engine_, const_cast<void*>(data));
    memory w(working, engine_);
    dnnl::reorder(u, w).execute(stream_, u, w);
    stream_.wait();
    return w;
  }

  /// oneDNN 2.x adds the bias to the s32 accumulator before the output
  /// scale (dst = scale * (acc + bias)): an int8 op's bias is divided by it.
  void set_bias(const float* bias, int64_t count) {
    bias_.assign(bias, bias + count);
    if (int8_)  // into the accumulator's units: input scale x weight scale
      for (int64_t c = 0; c < count; ++c) bias_[static_cast<size_t>(c)] /= bias_div_ * wscales_[static_cast<size_t>(c)];
  }

  /// The src the primitive reads: the user's tensor at `src`, or its quantised copy.
  const memory& src_memory(const void* src) {
    src_user_.set_data_handle(const_cast<void*>(src));
    if (!src_working_) return src_user_;
    src_reorder_->execute(stream_, src_user_, *src_working_);
    return *src_working_;
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  int team_ = 1;         ///< the engine's OpenMP threads
  bool serial_ = false;  ///< a tiny op: made and run on one thread (serial_macs)
  bool int8_;
  InputQuant quant_;
  memory src_user_;  ///< its handle set per run
  std::optional<memory> src_working_;
  std::optional<dnnl::reorder> src_reorder_;
  std::vector<float> out_scales_;  ///< int8: input scale x weight scale (/ dst scale) per output channel
  std::vector<float> wscales_;
  std::vector<int8_t> halved_;  ///< 7-bit kernels: the weights oneDNN gets (h or 2h)
  std::vector<float> doubled_;  ///< 7-bit kernels: their scales (doubled for h)
  float bias_div_ = 1.0f;
  std::vector<float> bias_;
};

/// The primitive (a convolution or inner product) once its descriptor is
/// made: the weights reordered into its layout, the bias, and the run.
template <typename PrimitiveDesc, typename Primitive>
class InferPrimitive : public InferBase {
 public:
  using InferBase::InferBase;
  /// The memory objects and their argument map are made once; a run only
  /// sets the src and dst handles (at batch 1, making them per run was
  /// measurable against 50-odd convolutions of a few microseconds each).
  void run(const void* src, void* dst) override {
    const OneThread one(serial_, team_);
    args_[DNNL_ARG_SRC] = src_memory(src);
    dst_.set_data_handle(dst);
    primitive_.execute(stream_, args_);
    stream_.wait();
  }
  std::string implementation() const override {
    return std::string(pd_.impl_info_str()) + (serial_ ? " (1 thread)" : "");
  }

 protected:
  /// `pd` made; `w_user` the user's plain weights (FP32 or s8) at `w`;
  /// `src_user` the tensor run() is given (FP32, or u8/s8 when quantised upstream).
  void finish(PrimitiveDesc pd, const memory::desc& src_user, const memory::desc& w_user, const InferWeights& w,
              int64_t outputs) {
    pd_ = std::move(pd);
    primitive_ = Primitive(pd_);
    prepare_src(src_user, pd_.src_desc());
    weights_ = prepare_weights(w_user, pd_.weights_desc(), int8_ ? static_cast<const void*>(w.s8) : w.f32);
    set_bias(w.bias, outputs);
    bias_mem_ = memory(memory::desc({outputs}, dt::f32, tag::x), engine_, bias_.data());
    dst_ = memory(pd_.dst_desc(), engine_, nullptr);
    scratchpad_ = memory(pd_.scratchpad_desc(), engine_);
    args_ = {{DNNL_ARG_WEIGHTS, weights_},
             {DNNL_ARG_BIAS, bias_mem_},
             {DNNL_ARG_DST, dst_},
             {DNNL_ARG_SCRATCHPAD, scratchpad_}};
  }

 private:
  PrimitiveDesc pd_;
  Primitive primitive_;
  memory weights_, bias_mem_, dst_, scratchpad_;
  std::unordered_map<int, memory> args_;
};

/// Which of oneDNN's implementations of `desc` the engine runs. oneDNN
/// offers them best first by its own rules, which favour its brgemm kernels;
/// for the engine's small NHWC convolutions its older direct jit kernels were
/// faster (MobileNetV2 0.35, 96x96, AMD EPYC AVX-512 VNNI, 1 thread, batch
/// 1: int8 0.215 -> 0.197 ms, FP32 0.325 -> 0.304 ms; the study in
/// results/mobilenet-infer/README.md). So the engine takes oneDNN's first
/// "jit" implementation, unless its first choice uses AMX (brgemm is the
/// only kernel family with AMX) or it offers no jit one.
/// HPCNN_INFER_TUNE=0 keeps oneDNN's first choice; =1 makes each
/// implementation (but the reference ones), times it on zeroed scratch
/// tensors (the best of 5 runs after a warm-up) and keeps the fastest:
/// faster still for FP32 (0.27 ms above) but it costs ~0.7 s per batch size
/// for MobileNetV2 and its choice can change from run to run, so it is for
/// measurements, not the default.
/// `prefer` (the default mode only): an implementation name prefix taken
/// first where oneDNN offers one (fp32_1x1_kernel below), before the jit rule.
template <typename PrimitiveDesc, typename Primitive, typename Desc>
PrimitiveDesc chosen_impl(const Desc& desc, const dnnl::primitive_attr& attr, const dnnl::engine& engine,
                          dnnl::stream& stream, const char* prefer = nullptr) {
  PrimitiveDesc pd(desc, attr, engine);
  const char* env = std::getenv("HPCNN_INFER_TUNE");
  const std::string mode = env != nullptr ? env : "";
  HPCNN_CHECK(mode.empty() || mode == "0" || mode == "1", "HPCNN_INFER_TUNE='", mode,
              "' (expected 0: oneDNN's choice, 1: the fastest measured)");
  const auto name = [&] { return std::string(pd.impl_info_str()); };
  if (mode == "0") return pd;
  int index = 0, best = 0;
  if (mode.empty()) {
    if (name().find("amx") != std::string::npos) return pd;
    if (prefer != nullptr) {
      do
        if (name().rfind(prefer, 0) == 0) return pd;
      while (pd.next_impl());
      pd = PrimitiveDesc(desc, attr, engine);
    }
    do
      if (name().rfind("jit", 0) == 0) return pd;
    while (pd.next_impl());
    return PrimitiveDesc(desc, attr, engine);
  }
  double best_time = std::numeric_limits<double>::infinity();
  do {
    if (name().rfind("ref", 0) == 0) continue;
    Primitive p(pd);
    std::unordered_map<int, memory> args;
    for (const auto& [arg, md] :
         {std::pair{DNNL_ARG_SRC, pd.src_desc()}, std::pair{DNNL_ARG_WEIGHTS, pd.weights_desc()},
          std::pair{DNNL_ARG_BIAS, pd.bias_desc()}, std::pair{DNNL_ARG_DST, pd.dst_desc()},
          std::pair{DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc()}}) {
      memory m(md, engine);
      std::memset(m.get_data_handle(), 0, md.get_size());
      args[arg] = m;
    }
    double t = std::numeric_limits<double>::infinity();
    for (int run = 0; run < 6; ++run) {
      const auto start = std::chrono::steady_clock::now();
      p.execute(stream, args);
      stream.wait();
      if (run > 0) t = std::min(t, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    if (t < best_time) {
      best_time = t;
      best = index;
    }
  } while (++index, pd.next_impl());
  pd = PrimitiveDesc(desc, attr, engine);
  for (int i = 0; i < best; ++i) pd.next_impl();
  return pd;
}

/// The implementation an FP32 1x1 convolution prefers (a name prefix), or
/// nullptr for the jit rule of chosen_impl. oneDNN's AVX-512 1x1 kernel
/// works on channels in blocks of 16 lanes, output channels and the
/// reduction over input channels alike; for 8 or 24 of them it pads a half
/// or a third of its work away, and its AVX2 kernel (blocks of 8) wastes
/// none. On AMD Zen 4, which runs AVX-512 as two 256-bit halves, that waste
/// is paid in full. MobileNetV2 0.35's 1x1 convolutions, batch 1, 1 thread,
/// medians of 400 alternated runs (AMD EPYC, load 4-15; the study in
/// results/mobilenet-infer/README.md): to 8 or 24 channels, 16->8 at 48x48
/// 16.3 -> 8.6 us, 48->8 at 24x24 9.5 -> 7.1 us, 144->24 at 6x6 (sum
/// post-op) 3.5 -> 2.6 us; from 8 or 24 channels, 8->48 at 48x48 28.4 ->
/// 19.4 us, 8->48 at 24x24 7.5 -> 5.2 us, 24->144 at 6x6 3.0 -> 2.7 us.
/// With 56 channels (1/8 padded) the AVX-512 kernel stayed ahead (192->56 at
/// 3x3: 2.4 against 2.6 us), so the rule is fewer than 32 channels, not a
/// multiple of 16, in or out; and at least 36 output pixels a sample (6x6,
/// so a sample gets the same kernel in a chunk of any size): over the
/// 9 of the head's 1280->8 at 3x3 the AVX-512 kernel was ahead (3.7 against
/// 4.7 us). On a CPU with full-width AVX-512 units both kernels do the same
/// useful work per cycle there (unmeasured). int8 keeps its kernels (an AVX2
/// int8 kernel has no VNNI: 7-bit weights, kernels::Int8Kernels).
const char* fp32_1x1_kernel(const InferConvSpec& s) {
  const auto narrow = [](int64_t channels) { return channels < 32 && channels % 16 != 0; };
  const bool avx2 = (narrow(s.oc) || narrow(s.ic)) && (s.rule_pixels > 0 ? s.rule_pixels : s.oh * s.ow) >= 36;
  return !s.int8 && s.kh == 1 && s.kw == 1 && s.groups == 1 && avx2 ? "jit_1x1:avx2" : nullptr;
}

/// u8 or s8 for a quantised tensor, FP32 otherwise.
dt act_type(bool quantised, const InputQuant& q) { return !quantised ? dt::f32 : (q.is_unsigned ? dt::u8 : dt::s8); }

class InferConv final : public InferPrimitive<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward> {
 public:
  InferConv(const InferConvSpec& s, const InferWeights& given, int threads)
      : InferPrimitive(threads, s.int8, s.quant, s.n * s.oh * s.ow * s.oc * (s.ic / s.groups) * s.kh * s.kw) {
    const OneThread one(serial_, team_);
    const InferWeights w = kernel_weights(given, s.oc * (s.ic / s.groups) * s.kh * s.kw, s.oc, true);
    const bool grouped = s.groups > 1;
    const memory::dims src_dims{s.n, s.ic, s.ih, s.iw}, dst_dims{s.n, s.oc, s.oh, s.ow},
        w_dims = grouped ? memory::dims{s.groups, s.oc / s.groups, s.ic / s.groups, s.kh, s.kw}
                         : memory::dims{s.oc, s.ic, s.kh, s.kw},
        strides{s.stride, s.stride}, pad_l{s.pad_top, s.pad_left}, pad_r{s.pad_bottom, s.pad_right};
    const dt src_type = act_type(s.int8, s.quant), w_type = s.int8 ? dt::s8 : dt::f32;
    if (s.int8) set_out_scales(w.scales, s.oc, s.dst_int8);
    const dnnl::primitive_attr attr = make_attr(s.act, s.int8 ? &out_scales_ : nullptr,
                                                s.dst_int8.on ? s.dst_int8.quant.scale : 1.0f, s.sum, s.sum_scale);
    // NHWC activations; the weights in whatever layout the kernel prefers.
    const memory::desc src_md(src_dims, src_type, tag::nhwc),
        dst_md(dst_dims, act_type(s.dst_int8.on, s.dst_int8.quant), tag::nhwc), w_md(w_dims, w_type, tag::any),
        b_md({s.oc}, dt::f32, tag::x);
    finish(chosen_impl<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward>(
               dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                               src_md, w_md, b_md, dst_md, strides, pad_l, pad_r),
               attr, engine_, stream_, fp32_1x1_kernel(s)),
           memory::desc(src_dims, s.src_int8 ? src_type : dt::f32, tag::nhwc),
           memory::desc(w_dims, w_type, grouped ? tag::goihw : tag::oihw), w, s.oc);
  }
};

class InferDense final
    : public InferPrimitive<dnnl::inner_product_forward::primitive_desc, dnnl::inner_product_forward> {
 public:
  InferDense(const InferDenseSpec& s, const InferWeights& given, int threads)
      : InferPrimitive(threads, s.int8, s.quant, s.n * s.in * s.out) {
    const OneThread one(serial_, team_);
    const InferWeights w = kernel_weights(given, s.out * s.in, s.out, false);
    const dt src_type = act_type(s.int8, s.quant), w_type = s.int8 ? dt::s8 : dt::f32;
    if (s.int8) set_out_scales(w.scales, s.out, s.dst_int8);
    const dnnl::primitive_attr attr =
        make_attr(s.act, s.int8 ? &out_scales_ : nullptr, s.dst_int8.on ? s.dst_int8.quant.scale : 1.0f);
    const memory::desc src_md({s.n, s.in}, src_type, tag::nc),
        dst_md({s.n, s.out}, act_type(s.dst_int8.on, s.dst_int8.quant), tag::nc), w_md({s.out, s.in}, w_type, tag::any),
        b_md({s.out}, dt::f32, tag::x);
    finish(dnnl::inner_product_forward::primitive_desc(
               dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, src_md, w_md, b_md, dst_md), attr,
               engine_),
           memory::desc({s.n, s.in}, s.src_int8 ? src_type : dt::f32, tag::nc),
           memory::desc({s.out, s.in}, w_type, tag::oi), w, s.out);
  }
};

}  // namespace

std::unique_ptr<InferOp> make_infer_conv(const InferConvSpec& spec, const InferWeights& w, int threads) {
  HPCNN_CHECK(spec.int8 ? (w.s8 != nullptr && w.scales != nullptr) : w.f32 != nullptr, "infer conv: missing weights");
  HPCNN_CHECK(!spec.int8 || (spec.quant.scale > 0 && std::isfinite(spec.quant.scale)), "infer conv: input scale ",
              spec.quant.scale);
  try {
    return std::make_unique<InferConv>(spec, w, threads);
  } catch (const dnnl::error& e) {
    HPCNN_THROW("oneDNN cannot run a ", spec.int8 ? "int8" : "fp32", " conv ", spec.ic, "x", spec.ih, "x", spec.iw,
                " -> ", spec.oc, " k", spec.kh, " s", spec.stride, " g", spec.groups, ": ", e.what());
  }
}

std::unique_ptr<InferOp> make_infer_dense(const InferDenseSpec& spec, const InferWeights& w, int threads) {
  HPCNN_CHECK(spec.int8 ? (w.s8 != nullptr && w.scales != nullptr) : w.f32 != nullptr, "infer dense: missing weights");
  try {
    return std::make_unique<InferDense>(spec, w, threads);
  } catch (const dnnl::error& e) {
    HPCNN_THROW("oneDNN cannot run a ", spec.int8 ? "int8" : "fp32", " dense ", spec.in, " -> ", spec.out, ": ",
                e.what());
  }
}

Int8Kernels int8_kernels() {
  Int8Kernels k;
  cpu_computes_bf16(&k.isa);  // names the ISA
  const dnnl::cpu_isa found = dnnl::get_effective_cpu_isa();
  k.dot_product = found == dnnl::cpu_isa::avx512_core_vnni || found == dnnl::cpu_isa::avx512_core_bf16 ||
                  found == dnnl::cpu_isa::avx512_core_amx || found == dnnl::cpu_isa::avx2_vnni;
  return k;
}

std::string Int8Kernels::describe() const {
  return dot_product ? isa + " (int8 dot product: weights as stored, 8-bit)"
                     : isa + " (no int8 dot product: weights used as 7-bit)";
}

}  // namespace hpcnn::kernels
