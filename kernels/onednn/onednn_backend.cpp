// oneDNN CPU backend. Primitives (and their reorders) are created once per
// shape in the op's constructor and reused every step. Activations use plain
// NCHW (see OnednnConv); weights are created with format_tag::any so oneDNN
// picks its preferred layout, and are reordered only where that layout
// differs from the plain one at the interface (see Staged below).
#include <omp.h>

#include <cstdlib>
#include <initializer_list>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/error.hpp"
#include "host_backend.hpp"

namespace hpcnn::kernels {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

memory::desc plain(const memory::dims& dims, tag t) { return memory::desc(dims, dt::f32, t); }
memory::desc any(const memory::dims& dims) { return memory::desc(dims, dt::f32, tag::any); }

/// One tensor at a primitive's edge: the user's plain buffer on one side, the
/// primitive's layout on the other. When the two agree, no copy is made.
class Staged {
 public:
  Staged(Context& ctx, const memory::desc& user, const memory::desc& working) : ctx_(ctx), user_(user) {
    if (working != user) {
      working_mem_ = memory(working, ctx.engine);
      user_mem_ = memory(user, ctx.engine, DNNL_MEMORY_NONE);
      to_working_ = dnnl::reorder(*user_mem_, *working_mem_);
      to_user_ = dnnl::reorder(*working_mem_, *user_mem_);
    }
  }
  /// Memory holding `src` in the working layout (reordering when needed).
  memory in(const float* src) {
    if (!working_mem_) return memory(user_, ctx_.engine, const_cast<float*>(src));
    user_mem_->set_data_handle(const_cast<float*>(src));
    to_working_->execute(ctx_.stream, *user_mem_, *working_mem_);
    return *working_mem_;
  }
  /// Memory the primitive writes to; call out_done(dst) after executing it.
  memory out(float* dst) {
    if (!working_mem_) return memory(user_, ctx_.engine, dst);
    return *working_mem_;
  }
  void out_done(float* dst) {
    if (!working_mem_) return;
    user_mem_->set_data_handle(dst);
    to_user_->execute(ctx_.stream, *working_mem_, *user_mem_);
  }
  /// The working-layout copy made by the last in() (or written by the
  /// primitive before out_done()); empty when no reorder is needed.
  const std::optional<memory>& working() const { return working_mem_; }

 private:
  Context& ctx_;
  memory::desc user_;
  std::optional<memory> working_mem_, user_mem_;
  std::optional<dnnl::reorder> to_working_, to_user_;
};

/// Which convolution runs: oneDNN's on plain NCHW, oneDNN's on its blocked
/// The private layout (Backend::has_private_layout): channels in blocks of
/// the vector width oneDNN's direct kernels use, nChw16c for AVX-512 and
/// nChw8c below it. oneDNN has no AVX2 (or SSE4.1) kernel for nChw16c and
/// fell back to its reference loops: keras-cnn at batch 16 with
/// ONEDNN_MAX_CPU_ISA=AVX2 took 54 s a step (conv2's backward_weights alone
/// 7.7 s), against 0.1 s on nChw8c. Below AVX2 oneDNN 2.6 has no direct
/// backward kernels at all (SSE4.1: forward only, reference loops for the
/// backward passes, 8.6 s a step): there every convolution runs on plain
/// NCHW (im2col + GEMM, which has SSE4.1 kernels), and nothing is private (0).
int64_t private_block() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  if (isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
      isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx)
    return 16;
  return isa == dnnl::cpu_isa::avx2 || isa == dnnl::cpu_isa::avx2_vnni ? 8 : 0;
}
tag private_tag() { return private_block() == 16 ? tag::nChw16c : tag::nChw8c; }

/// A measurement override read from the environment variable `name`: one
/// of `choices`, the last of which ("auto") is also what an unset or empty
/// variable means; anything else is an error naming the variable and the
/// choices.
std::string env_choice(const char* name, std::initializer_list<const char*> choices) {
  const char* env = std::getenv(name);
  const std::string v = env != nullptr && *env != '\0' ? env : *(choices.end() - 1);
  std::string expected;
  for (const char* c : choices) {
    if (v == c) return v;
    expected += expected.empty() ? "" : (c == *(choices.end() - 1) ? " or " : ", ");
    expected += c;
  }
  HPCNN_THROW(name, "='", v, "' (expected ", expected, ")");
}

/// The layout BF16 convolutions compute on. oneDNN 2.6's AMX convolutions
/// (brgconv / jit:avx512_core_amx) run on channels-last activations, and for
/// training they do not accept format_tag::any (only forward_inference may let
/// them choose): given `any`, an AMX Xeon ran every BF16 convolution as
/// jit_bf16:avx512_core_bf16 on nChw16c, 1.8x slower than FP32 (issue 25:
/// keras-cnn, batch 128, 2 threads, 54.7 vs 30.2 ms a step). So on AMX the
/// BF16 activations are NHWC explicitly; elsewhere oneDNN's blocked choice
/// stays (AVX512-BF16 without AMX: measured in results/bf16).
/// HPCNN_BF16_CONV_LAYOUT=nhwc|blocked|auto overrides the choice, so the NHWC
/// path is exercised (tests, ONEDNN_VERBOSE) on CPUs without AMX too.
bool bf16_conv_nhwc() {
  const std::string v = env_choice("HPCNN_BF16_CONV_LAYOUT", {"nhwc", "blocked", "auto"});
  if (v != "auto") return v == "nhwc";
  return dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
}

/// layouts, or the host's direct small-channel convolution
/// (make_host_small_conv). HPCNN_ONEDNN_CONV_LAYOUT overrides the choice, for
/// measurements: plain | blocked (oneDNN) | host (where it suits) | auto.
enum class ConvPath { kPlain, kBlocked, kHost };

ConvPath conv_path(const ConvGeometry& g) {
  const std::string v = env_choice("HPCNN_ONEDNN_CONV_LAYOUT", {"plain", "blocked", "host", "auto"});
  if (v == "plain") return ConvPath::kPlain;
  if (v == "blocked") return ConvPath::kBlocked;
  // Blocked layouts (nChw16c) pad channels to 16: worth it when the output
  // has whole blocks of channels, and needed when a side is private.
  if (g.src_private || g.dst_private) return ConvPath::kBlocked;
  if (g.oc % 16 == 0 && private_block() > 0) return ConvPath::kBlocked;
  // Below 16 channels on both sides oneDNN 2.6 has only im2col + GEMM on
  // plain NCHW; the host's direct convolution is 3-5x faster there
  // (tiny-cnn, results/cpu-speed/README.md).
  return host_small_conv_suits(g) ? ConvPath::kHost : ConvPath::kPlain;
}

/// The convolution algorithm: Winograd for 3x3 stride-1 FP32 convolutions on
/// blocked layouts with whole blocks of 16 channels on both sides, direct
/// otherwise. HPCNN_ONEDNN_CONV_ALGO=direct keeps every convolution direct
/// (for measurements, and for runs that must match earlier releases' bits);
/// auto (the default) is the rule above.
dnnl::algorithm conv_algorithm(const ConvGeometry& g, bool bf16, bool blocked) {
  const bool allow = env_choice("HPCNN_ONEDNN_CONV_ALGO", {"direct", "auto"}) != "direct";
  const bool suits =
      !bf16 && blocked && g.groups == 1 && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.ic % 16 == 0 && g.oc % 16 == 0;
  return allow && suits ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
}

class OnednnConv final : public ConvOp {
 public:
  /// `bf16`: src, weights and diff_dst are converted to BF16 by the edge
  /// reorders and the convolution computes in BF16 (AVX512-BF16 or AMX),
  /// accumulating in FP32; dst, diff_src, diff_weights and diff_bias stay FP32,
  /// and so do the weights the optimizer updates.
  OnednnConv(Context& ctx, const ConvGeometry& g, bool bf16) : ctx_(ctx) {
    // Grouped (and depthwise) convolutions take weights (G, OC/G, IC/G, KH, KW):
    // the interface's (OC, IC/G, KH, KW) is the same memory. Without a bias
    // the bias descriptor is empty, which oneDNN reads as "no bias term".
    const bool grouped = g.groups > 1;
    const memory::dims src_dims{g.n, g.ic, g.ih, g.iw},
        w_dims = grouped ? memory::dims{g.groups, g.oc / g.groups, g.ic / g.groups, g.kh, g.kw}
                         : memory::dims{g.oc, g.ic, g.kh, g.kw},
        b_dims{g.oc}, dst_dims{g.n, g.oc, g.oh, g.ow}, strides{g.stride, g.stride}, pad_l{g.pad_top, g.pad_left},
        pad_r{g.pad_bottom, g.pad_right};
    const auto src_user = plain(src_dims, g.src_private ? private_tag() : tag::nchw),
               w_user = plain(w_dims, grouped ? tag::goihw : tag::oihw),
               b_md = g.bias ? plain(b_dims, tag::x) : memory::desc(),
               dst_user = plain(dst_dims, g.dst_private ? private_tag() : tag::nchw);
    // Activations cross the interface as plain NCHW. On plain NCHW oneDNN 2.6
    // (and 3.2) run convolution as im2col + GEMM; on its blocked layouts it
    // runs direct JIT kernels, 1.9x faster for keras-cnn's conv2 (fwd + both
    // backwards 38.7 vs 73 ms, batch 128, 1 thread, AMD EPYC), while the
    // reorders to and from nChw16c cost ~1 ms each. So with blocked layouts
    // the op reorders at its edges and shares the reorders between passes:
    // forward's blocked src serves backward_weights, and backward_weights's
    // blocked diff_dst serves backward_data (the model calls them in that
    // order on the same buffers).
    blocked_ = bf16 || conv_path(g) == ConvPath::kBlocked;
    // A private side (Backend::has_private_layout) is nChw16c (nChw8c) at
    // the interface too, so in FP32 it needs no reorder at all.
    const bool nhwc = bf16 && bf16_conv_nhwc();
    const auto act = [&](const memory::dims& d, bool is_private, dt type) {
      // NHWC (AMX, see bf16_conv_nhwc) also behind a private side: BF16
      // reorders at the edge anyway, so the layout change rides along.
      if (nhwc) return memory::desc(d, type, tag::nhwc);
      if (is_private) return memory::desc(d, type, private_tag());
      return blocked_ ? memory::desc(d, type, tag::any) : memory::desc(d, type, tag::nchw);
    };
    const dt in = bf16 ? dt::bf16 : dt::f32;  // what the convolution reads: src, weights, diff_dst
    const auto src_in = act(src_dims, g.src_private, in), src_out = act(src_dims, g.src_private, dt::f32),
               dst_in = act(dst_dims, g.dst_private, in), dst_out = act(dst_dims, g.dst_private, dt::f32),
               w_in = memory::desc(w_dims, in, tag::any);
    // A fused ReLU is a post-op on dst: max(x, 0) as the host's (NaN and -0
    // pass through unchanged).
    dnnl::primitive_attr attr;
    if (g.relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    const auto make_descs = [&](dnnl::algorithm algo) {
      fwd_pd_ = dnnl::convolution_forward::primitive_desc(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_in, w_in, b_md, dst_out, strides,
                                          pad_l, pad_r),
          attr, ctx.engine);
      bwd_data_pd_ = dnnl::convolution_backward_data::primitive_desc(
          dnnl::convolution_backward_data::desc(algo, src_out, w_in, dst_in, strides, pad_l, pad_r), ctx.engine,
          fwd_pd_);
      bwd_w_pd_ = dnnl::convolution_backward_weights::primitive_desc(
          dnnl::convolution_backward_weights::desc(algo, src_in, any(w_dims), b_md, dst_in, strides, pad_l, pad_r),
          ctx.engine, fwd_pd_);
    };
    // Winograd F(4x4, 3x3) where oneDNN has it (jit_wino_4x3, AVX-512): a
    // quarter of the multiplies of a direct 3x3 convolution. keras-cnn's conv2
    // (32 -> 64 channels, batch 128, 1 thread, AMD EPYC): fwd 25 -> 12-14 ms,
    // backward data 29 -> 17, weights 30 -> 15 ms. Deterministic like the
    // direct kernels; it rounds differently (transforms in FP32), within the
    // parity tests' 1e-4 of the reference. With one input channel (conv1) it
    // is 8x slower than direct, hence whole blocks of 16 channels only.
    if (conv_algorithm(g, bf16, blocked_) == dnnl::algorithm::convolution_winograd) {
      try {
        make_descs(dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error&) {  // not implemented for this shape or ISA
        make_descs(dnnl::algorithm::convolution_direct);
      }
    } else {
      make_descs(dnnl::algorithm::convolution_direct);
    }
    fwd_ = dnnl::convolution_forward(fwd_pd_);
    bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
    bwd_w_ = dnnl::convolution_backward_weights(bwd_w_pd_);
    b_md_ = b_md;
    fwd_src_.emplace(ctx, src_user, fwd_pd_.src_desc());
    fwd_w_.emplace(ctx, w_user, fwd_pd_.weights_desc());
    fwd_dst_.emplace(ctx, dst_user, fwd_pd_.dst_desc());
    bd_diff_dst_.emplace(ctx, dst_user, bwd_data_pd_.diff_dst_desc());
    bd_w_.emplace(ctx, w_user, bwd_data_pd_.weights_desc());
    bd_diff_src_.emplace(ctx, src_user, bwd_data_pd_.diff_src_desc());
    bw_src_.emplace(ctx, src_user, bwd_w_pd_.src_desc());
    bw_diff_dst_.emplace(ctx, dst_user, bwd_w_pd_.diff_dst_desc());
    bw_diff_w_.emplace(ctx, w_user, bwd_w_pd_.diff_weights_desc());
    share_src_ = fwd_src_->working() && bwd_w_pd_.src_desc() == fwd_pd_.src_desc();
    share_diff_dst_ = bw_diff_dst_->working() && bwd_data_pd_.diff_dst_desc() == bwd_w_pd_.diff_dst_desc();
  }

  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    memory d = fwd_dst_->out(dst);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, fwd_src_->in(src)}, {DNNL_ARG_WEIGHTS, fwd_w_->in(weights)}, {DNNL_ARG_DST, d}};
    if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, memory(b_md_, ctx_.engine, const_cast<float*>(bias)));
    fwd_.execute(ctx_.stream, args);
    fwd_dst_->out_done(dst);
    ctx_.stream.wait();
    forward_src_ = src;
    diff_dst_ready_ = nullptr;
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    memory ds = bd_diff_src_->out(diff_src);
    const bool reuse = share_diff_dst_ && diff_dst == diff_dst_ready_;
    bwd_data_.execute(ctx_.stream, {{DNNL_ARG_DIFF_DST, reuse ? *bw_diff_dst_->working() : bd_diff_dst_->in(diff_dst)},
                                    {DNNL_ARG_WEIGHTS, bd_w_->in(weights)},
                                    {DNNL_ARG_DIFF_SRC, ds}});
    bd_diff_src_->out_done(diff_src);
    ctx_.stream.wait();
    diff_dst_ready_ = nullptr;
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    memory dw = bw_diff_w_->out(diff_weights);
    const bool reuse = share_src_ && src == forward_src_;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, reuse ? *fwd_src_->working() : bw_src_->in(src)},
                                         {DNNL_ARG_DIFF_DST, bw_diff_dst_->in(diff_dst)},
                                         {DNNL_ARG_DIFF_WEIGHTS, dw}};
    if (diff_bias != nullptr) args.emplace(DNNL_ARG_DIFF_BIAS, memory(b_md_, ctx_.engine, diff_bias));
    bwd_w_.execute(ctx_.stream, args);
    bw_diff_w_->out_done(diff_weights);
    ctx_.stream.wait();
    diff_dst_ready_ = diff_dst;
  }

 private:
  Context& ctx_;
  bool blocked_ = false, share_src_ = false, share_diff_dst_ = false;
  const float* forward_src_ = nullptr;     ///< src of the last forward (its blocked copy is in fwd_src_)
  const float* diff_dst_ready_ = nullptr;  ///< diff_dst of the last backward_weights (blocked in bw_diff_dst_)
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd_;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd_;
  dnnl::convolution_forward fwd_;
  dnnl::convolution_backward_data bwd_data_;
  dnnl::convolution_backward_weights bwd_w_;
  memory::desc b_md_;
  std::optional<Staged> fwd_src_, fwd_w_, fwd_dst_, bd_diff_dst_, bd_w_, bd_diff_src_, bw_src_, bw_diff_dst_,
      bw_diff_w_;
};

class OnednnDense final : public DenseOp {
 public:
  OnednnDense(Context& ctx, const DenseGeometry& g) : ctx_(ctx) {
    const memory::dims src_dims{g.n, g.in}, w_dims{g.out, g.in}, b_dims{g.out}, dst_dims{g.n, g.out};
    src_md_ = plain(src_dims, tag::nc);
    dst_md_ = plain(dst_dims, tag::nc);
    b_md_ = plain(b_dims, tag::x);
    // Weights stay in the interface's plain (OUT, IN) layout. With
    // format_tag::any oneDNN picks a blocked layout for its brgemm kernels,
    // which are ~10% faster, but then every pass reorders the whole weight
    // matrix (the params are plain for the optimizer, the all-reduce and the
    // checkpoint): mlp:3200-1600-832's dense:1600 took 24.4 ms fwd + bwd that
    // way against 17.1 ms plain (batch 100, 1 thread, AMD EPYC).
    const auto w_user = plain(w_dims, tag::oi);
    fwd_pd_ = dnnl::inner_product_forward::primitive_desc(
        dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, src_md_, w_user, b_md_, dst_md_),
        ctx.engine);
    bwd_data_pd_ = dnnl::inner_product_backward_data::primitive_desc(
        dnnl::inner_product_backward_data::desc(src_md_, w_user, dst_md_), ctx.engine, fwd_pd_);
    bwd_w_pd_ = dnnl::inner_product_backward_weights::primitive_desc(
        dnnl::inner_product_backward_weights::desc(src_md_, w_user, b_md_, dst_md_), ctx.engine, fwd_pd_);
    // Forward as a matmul, src (N, IN) x W^T with W^T read in place from the
    // plain (OUT, IN) weights through strides {1, IN}: oneDNN's brgemm matmul
    // takes that at full speed (5.3 ms for 100x3200->1600, 1 thread) where
    // the inner product on plain weights falls back to a GEMM (8.0 ms). The
    // inner-product primitive descriptor above still serves as the backward
    // passes' hint.
    mm_w_md_ = memory::desc(memory::dims{g.in, g.out}, dt::f32, memory::dims{1, g.in});
    mm_bias_md_ = memory::desc(memory::dims{1, g.out}, dt::f32, memory::dims{g.out, 1});
    fwd_mm_ = dnnl::matmul(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md_, mm_w_md_, mm_bias_md_, dst_md_), ctx.engine));
    bwd_data_ = dnnl::inner_product_backward_data(bwd_data_pd_);
    bwd_w_ = dnnl::inner_product_backward_weights(bwd_w_pd_);
    bd_w_.emplace(ctx, w_user, bwd_data_pd_.weights_desc());
    bw_diff_w_.emplace(ctx, w_user, bwd_w_pd_.diff_weights_desc());
  }

  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    fwd_mm_.execute(ctx_.stream, {{DNNL_ARG_SRC, memory(src_md_, ctx_.engine, const_cast<float*>(src))},
                                  {DNNL_ARG_WEIGHTS, memory(mm_w_md_, ctx_.engine, const_cast<float*>(weights))},
                                  {DNNL_ARG_BIAS, memory(mm_bias_md_, ctx_.engine, const_cast<float*>(bias))},
                                  {DNNL_ARG_DST, memory(dst_md_, ctx_.engine, dst)}});
    ctx_.stream.wait();
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    bwd_data_.execute(ctx_.stream, {{DNNL_ARG_DIFF_DST, memory(dst_md_, ctx_.engine, const_cast<float*>(diff_dst))},
                                    {DNNL_ARG_WEIGHTS, bd_w_->in(weights)},
                                    {DNNL_ARG_DIFF_SRC, memory(src_md_, ctx_.engine, diff_src)}});
    ctx_.stream.wait();
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    memory dw = bw_diff_w_->out(diff_weights);
    bwd_w_.execute(ctx_.stream, {{DNNL_ARG_SRC, memory(src_md_, ctx_.engine, const_cast<float*>(src))},
                                 {DNNL_ARG_DIFF_DST, memory(dst_md_, ctx_.engine, const_cast<float*>(diff_dst))},
                                 {DNNL_ARG_DIFF_WEIGHTS, dw},
                                 {DNNL_ARG_DIFF_BIAS, memory(b_md_, ctx_.engine, diff_bias)}});
    bw_diff_w_->out_done(diff_weights);
    ctx_.stream.wait();
  }

 private:
  Context& ctx_;
  memory::desc src_md_, dst_md_, b_md_;
  dnnl::inner_product_forward::primitive_desc fwd_pd_;
  dnnl::inner_product_backward_data::primitive_desc bwd_data_pd_;
  dnnl::inner_product_backward_weights::primitive_desc bwd_w_pd_;
  memory::desc mm_w_md_, mm_bias_md_;
  dnnl::matmul fwd_mm_;
  dnnl::inner_product_backward_data bwd_data_;
  dnnl::inner_product_backward_weights bwd_w_;
  std::optional<Staged> bd_w_, bw_diff_w_;
};

class OnednnBackend final : public HostBackend {
 public:
  OnednnBackend(int threads, Precision precision) : bf16_(precision == Precision::kBf16) {
    if (threads > 0) omp_set_num_threads(threads);
    flush_denormals_on_compute_threads();
  }
  std::string name() const override { return "onednn"; }
  // Few channels: the host's direct convolution, FP32 also under
  // --precision bf16 (there is nothing for BF16 to speed up in it).
  std::unique_ptr<ConvOp> make_conv(const ConvGeometry& g) override {
    if (conv_path(g) == ConvPath::kHost) return make_host_small_conv(g);
    return std::make_unique<OnednnConv>(ctx_, g, bf16_);
  }
  // oneDNN's max pooling (pooling_forward, algorithm::pooling_max) is slow on
  // plain NCHW: 32 ms vs 4.7 ms for keras-cnn's pool at batch 128 on 2 threads,
  // measured with `hpcnn bench layers`. The host pool serves instead.
  std::unique_ptr<PoolOp> make_pool(const PoolGeometry& g) override { return make_host_max_pool(g); }
  bool fuses_conv_relu() const override { return true; }
  bool fuses_relu_into_pool() const override { return true; }  // the host pool (make_pool below)
  // nChw16c (nChw8c below AVX-512) without padding: whole blocks of channels.
  bool has_private_layout(int64_t channels) const override {
    return private_block() > 0 && channels % private_block() == 0;
  }
  std::unique_ptr<DenseOp> make_dense(const DenseGeometry& g) override {
    return std::make_unique<OnednnDense>(ctx_, g);
  }

 private:
  Context ctx_;
  bool bf16_ = false;
};

}  // namespace

bool cpu_computes_bf16(std::string* isa) {
  const dnnl::cpu_isa found = dnnl::get_effective_cpu_isa();
  if (isa != nullptr) {
    switch (found) {
      case dnnl::cpu_isa::avx512_core_amx: *isa = "avx512_core_amx"; break;
      case dnnl::cpu_isa::avx512_core_bf16: *isa = "avx512_core_bf16"; break;
      case dnnl::cpu_isa::avx512_core_vnni: *isa = "avx512_core_vnni"; break;
      case dnnl::cpu_isa::avx512_core: *isa = "avx512_core"; break;
      case dnnl::cpu_isa::avx2_vnni: *isa = "avx2_vnni"; break;
      case dnnl::cpu_isa::avx2: *isa = "avx2"; break;
      case dnnl::cpu_isa::avx: *isa = "avx"; break;
      case dnnl::cpu_isa::sse41: *isa = "sse41"; break;
      default: *isa = "older than sse41"; break;
    }
  }
  return found == dnnl::cpu_isa::avx512_core_bf16 || found == dnnl::cpu_isa::avx512_core_amx;
}

std::unique_ptr<Backend> make_onednn_backend(int threads, Precision precision) {
  if (precision == Precision::kBf16) {
    std::string isa;
    if (!cpu_computes_bf16(&isa)) {
      throw UsageError("--precision bf16: this CPU has no BF16 arithmetic (oneDNN's best ISA here is " + isa +
                       "; BF16 needs AVX512-BF16 or AMX): use --precision fp32");
    }
  }
  try {
    return std::make_unique<OnednnBackend>(threads, precision);
  } catch (const dnnl::error& e) {
    HPCNN_THROW("oneDNN: cannot create a CPU engine: ", e.what());
  }
}

}  // namespace hpcnn::kernels
