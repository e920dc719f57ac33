// Direct convolution on the host for few channels (host_backend.hpp says
// when it is used). All three passes are correlations of a zero-padded copy
// of their input, computed 8 output columns at a time:
//   forward        dst[oc][r][c]      = bias[oc] + sum_(ic,y,x) W[oc][ic][y][x] * src_pad[ic][r + y][c + x]
//   backward data  diff_src[ic][r][c] = sum_(oc,y,x) W[oc][ic][KH-1-y][KW-1-x] * dd_pad[oc][r + y][c + x]
//   backward wts   dW[oc][ic][y][x]   = sum_(n,r,c) dd[n][oc][r][c] * src_pad[n][ic][r + y][c + x]
// src_pad holds src at row ih + pad_top, column iw + pad_left; dd_pad holds
// diff_dst at row oh + KH-1-pad_top, column ow + KW-1-pad_left. The padding
// is zeroed once, when the op is made; each pass copies only the interior.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "cpu_clones.hpp"
#include "host_backend.hpp"

namespace hpcnn::kernels {

namespace {

constexpr int64_t kLanes = 8;  ///< one 256-bit vector of floats
constexpr int64_t kBlock = 4;  ///< output channels per pass over the input
constexpr int64_t kMaxChannels = 15;
constexpr int64_t kMaxKernel = 7;
constexpr int64_t kMaxCols = 256;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));

int64_t chunks(int64_t cols) { return (cols + kLanes - 1) / kLanes; }
int64_t blocks(int64_t outs) { return (outs + kBlock - 1) / kBlock; }

/// out[o][r][c] = init[o] + sum over (ch, y, x) of wt[o][ch][y][x] * in[ch][r + y][c + x]
struct Correlation {
  int64_t chans = 1, outs = 1, kh = 1, kw = 1;
  int64_t rows = 1, cols = 1;        ///< one output plane
  int64_t in_rows = 1, in_cols = 1;  ///< one padded input plane: in_cols >= chunks(cols) * kLanes + kw - 1
  int64_t in_plane() const { return in_rows * in_cols; }
  int64_t taps() const { return chans * kh * kw; }
};

/// Output row r of every output channel of one sample. `wt` is packed as
/// (blocks(outs), taps, kBlock), zero past `outs`; `init` has one value per
/// packed output. The taps are summed in (ch, y, x) order after init, with
/// separate multiplies and adds (-ffp-contract=off): the same bits on every
/// clone and thread count. K is the kernel's side (k.kh == k.kw == K), a
/// constant so that the tap loops unroll and the accumulators stay in
/// registers.
template <int K>
HPCNN_CPU_CLONE void correlate_row(const Correlation& k, const float* in, const float* wt, const float* init, bool relu,
                                   float* out, int64_t r) {
  const int64_t taps = k.taps(), in_plane = k.in_plane(), out_plane = k.rows * k.cols;
  for (int64_t b = 0; b < blocks(k.outs); ++b) {
    const float* w_block = wt + b * taps * kBlock;
    for (int64_t c = 0; c < chunks(k.cols); ++c) {
      Vec acc[kBlock];
      for (int64_t j = 0; j < kBlock; ++j) {
        const float s = init[b * kBlock + j];
        acc[j] = Vec{s, s, s, s, s, s, s, s};
      }
      const float* w = w_block;
      for (int64_t ch = 0; ch < k.chans; ++ch)
        for (int64_t y = 0; y < K; ++y) {
          const float* row = in + ch * in_plane + (r + y) * k.in_cols + c * kLanes;
          for (int64_t x = 0; x < K; ++x, w += kBlock) {
            Vec v;
            std::memcpy(&v, row + x, sizeof v);
            for (int64_t j = 0; j < kBlock; ++j) acc[j] += v * w[j];
          }
        }
      const int64_t lanes = std::min(kLanes, k.cols - c * kLanes);
      for (int64_t j = 0; j < kBlock && b * kBlock + j < k.outs; ++j) {
        // ReLU as maths::relu: x < 0 ? 0 : x (NaN and -0 pass unchanged).
        if (relu) acc[j] = acc[j] < Vec{} ? Vec{} : acc[j];
        std::memcpy(out + (b * kBlock + j) * out_plane + r * k.cols + c * kLanes, &acc[j],
                    static_cast<size_t>(lanes) * sizeof(float));
      }
    }
  }
}

/// The weight gradients of one (oc, ic) pair: taps[y * kw + x] = sum over
/// samples, rows and columns of dd[n][r][c] * src[n][r + y][c + x]. `src` and
/// `dd` point at sample 0's plane (dd at its first interior element, with
/// zeros past `cols` in every row); each sample's sum is formed in float
/// vectors and added into double in lane order. K as in correlate_row.
template <int K>
HPCNN_CPU_CLONE void weight_grad_pair(int64_t samples, int64_t rows, int64_t cols, const float* src, int64_t src_stride,
                                      int64_t src_cols, const float* dd, int64_t dd_stride, int64_t dd_cols,
                                      double* taps) {
  constexpr int64_t kh = K, kw = K;
  Vec acc[K * K];
  const int64_t nc = chunks(cols), tail = cols - (nc - 1) * kLanes;
  const VecI lane{0, 1, 2, 3, 4, 5, 6, 7};
  for (int64_t t = 0; t < kh * kw; ++t) taps[t] = 0.0;
  for (int64_t n = 0; n < samples; ++n) {
    for (int64_t t = 0; t < kh * kw; ++t) acc[t] = Vec{};
    for (int64_t r = 0; r < rows; ++r) {
      const float* d_row = dd + n * dd_stride + r * dd_cols;
      for (int64_t c = 0; c < nc; ++c) {
        Vec d;
        std::memcpy(&d, d_row + c * kLanes, sizeof d);
        // Past the last column d is 0, but src there may be real data
        // (even inf): those lanes read 0 so they add exactly nothing.
        const bool last = c == nc - 1 && tail < kLanes;
        for (int64_t y = 0; y < kh; ++y) {
          const float* s_row = src + n * src_stride + (r + y) * src_cols + c * kLanes;
          for (int64_t x = 0; x < kw; ++x) {
            Vec v;
            std::memcpy(&v, s_row + x, sizeof v);
            if (last) v = lane < static_cast<int32_t>(tail) ? v : Vec{};
            acc[y * kw + x] += d * v;
          }
        }
      }
    }
    for (int64_t t = 0; t < kh * kw; ++t)
      for (int64_t l = 0; l < kLanes; ++l) taps[t] += static_cast<double>(acc[t][l]);
  }
}

/// The bias gradient of one output channel: the sum of dd over samples,
/// rows and columns (dd as in weight_grad_pair), per sample in float vectors
/// added into double in lane order.
HPCNN_CPU_CLONE double bias_grad(int64_t samples, int64_t rows, int64_t cols, const float* dd, int64_t dd_stride,
                                 int64_t dd_cols) {
  double sum = 0.0;
  for (int64_t n = 0; n < samples; ++n) {
    Vec acc{};
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < chunks(cols); ++c) {
        Vec d;
        std::memcpy(&d, dd + n * dd_stride + r * dd_cols + c * kLanes, sizeof d);
        acc += d;
      }
    for (int64_t l = 0; l < kLanes; ++l) sum += static_cast<double>(acc[l]);
  }
  return sum;
}

/// The kernel side as a template argument (host_small_conv_suits: 1 to 7).
template <class F>
void with_kernel(int64_t k, F&& f) {
  switch (k) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: HPCNN_THROW("host small conv: kernel side ", k, " (1 to 7)");
  }
}

/// dst[i] = src[i]: the interior rows of the padded copies (short rows,
/// where a memcpy call would cost more than the copy).
HPCNN_CPU_CLONE void copy_row(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

class HostSmallConv final : public ConvOp {
 public:
  explicit HostSmallConv(const ConvGeometry& g) : g_(g) {
    fwd_ = {g.ic, g.oc, g.kh, g.kw, g.oh, g.ow, g.oh + g.kh - 1, chunks(g.ow) * kLanes + g.kw - 1};
    dd_row0_ = g.kh - 1 - g.pad_top;
    dd_col0_ = g.kw - 1 - g.pad_left;
    bwd_ = {g.oc,
            g.ic,
            g.kh,
            g.kw,
            g.ih,
            g.iw,
            g.ih + g.kh - 1,
            std::max(chunks(g.iw) * kLanes + g.kw - 1, dd_col0_ + chunks(g.ow) * kLanes)};
    src_pad_.assign(static_cast<size_t>(g.n * g.ic * fwd_.in_plane()), 0.0f);
    dd_pad_.assign(static_cast<size_t>(g.n * g.oc * bwd_.in_plane()), 0.0f);
    wt_fwd_.assign(static_cast<size_t>(blocks(g.oc) * kBlock * fwd_.taps()), 0.0f);
    wt_bwd_.assign(static_cast<size_t>(blocks(g.ic) * kBlock * bwd_.taps()), 0.0f);
    init_fwd_.assign(static_cast<size_t>(blocks(g.oc) * kBlock), 0.0f);
    init_bwd_.assign(static_cast<size_t>(blocks(g.ic) * kBlock), 0.0f);
  }

  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    pad_src(src);
    padded_src_ = src;
    padded_diff_dst_ = nullptr;
    // (blocks(oc), (ic, y, x), kBlock), zero past oc.
    for (int64_t o = 0; o < g_.oc; ++o) {
      for (int64_t t = 0; t < fwd_.taps(); ++t)
        wt_fwd_[static_cast<size_t>(((o / kBlock) * fwd_.taps() + t) * kBlock + o % kBlock)] =
            weights[o * fwd_.taps() + t];
      init_fwd_[static_cast<size_t>(o)] = bias != nullptr ? bias[o] : 0.0f;
    }
    const int64_t items = g_.n * g_.oh;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < items; ++i) {
      const int64_t n = i / g_.oh;
      with_kernel(g_.kh, [&](auto k) {
        cpu_clones::run<correlate_row<k()>>(fwd_, src_pad_.data() + n * g_.ic * fwd_.in_plane(), wt_fwd_.data(),
                                            init_fwd_.data(), g_.relu, dst + n * g_.oc * g_.oh * g_.ow, i % g_.oh);
      });
    }
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    if (diff_dst != padded_diff_dst_) pad_diff_dst(diff_dst);
    padded_diff_dst_ = nullptr;
    // (blocks(ic), (oc, y, x), kBlock): W[oc][ic] rotated by 180 degrees.
    for (int64_t ic = 0; ic < g_.ic; ++ic)
      for (int64_t oc = 0; oc < g_.oc; ++oc)
        for (int64_t y = 0; y < g_.kh; ++y)
          for (int64_t x = 0; x < g_.kw; ++x) {
            const int64_t t = (oc * g_.kh + y) * g_.kw + x;
            wt_bwd_[static_cast<size_t>(((ic / kBlock) * bwd_.taps() + t) * kBlock + ic % kBlock)] =
                weights[((oc * g_.ic + ic) * g_.kh + (g_.kh - 1 - y)) * g_.kw + (g_.kw - 1 - x)];
          }
    const int64_t items = g_.n * g_.ih;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < items; ++i) {
      const int64_t n = i / g_.ih;
      with_kernel(g_.kh, [&](auto k) {
        cpu_clones::run<correlate_row<k()>>(bwd_, dd_pad_.data() + n * g_.oc * bwd_.in_plane(), wt_bwd_.data(),
                                            init_bwd_.data(), false, diff_src + n * g_.ic * g_.ih * g_.iw, i % g_.ih);
      });
    }
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    // In the model's order (forward, backward_weights, backward_data on the
    // same buffers, as OnednnConv relies on too) forward's padded src serves
    // here, and the diff_dst padded here serves backward_data.
    if (src != padded_src_) pad_src(src);
    padded_src_ = nullptr;
    pad_diff_dst(diff_dst);
    padded_diff_dst_ = diff_dst;
    const int64_t pairs = g_.oc * g_.ic, taps = g_.kh * g_.kw;
    const float* dd0 = dd_pad_.data() + dd_row0_ * bwd_.in_cols + dd_col0_;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < pairs; ++p) {
      const int64_t oc = p / g_.ic, ic = p % g_.ic;
      double sums[kMaxKernel * kMaxKernel] = {};  // every tap written; zeroed for -Wmaybe-uninitialized
      with_kernel(g_.kh, [&](auto k) {
        cpu_clones::run<weight_grad_pair<k()>>(g_.n, g_.oh, g_.ow, src_pad_.data() + ic * fwd_.in_plane(),
                                               g_.ic * fwd_.in_plane(), fwd_.in_cols, dd0 + oc * bwd_.in_plane(),
                                               g_.oc * bwd_.in_plane(), bwd_.in_cols, sums);
      });
      for (int64_t t = 0; t < taps; ++t) diff_weights[p * taps + t] = static_cast<float>(sums[t]);
    }
    if (diff_bias == nullptr) return;
#pragma omp parallel for schedule(static)
    for (int64_t oc = 0; oc < g_.oc; ++oc)
      diff_bias[oc] = static_cast<float>(cpu_clones::run<bias_grad>(g_.n, g_.oh, g_.ow, dd0 + oc * bwd_.in_plane(),
                                                                    g_.oc * bwd_.in_plane(), bwd_.in_cols));
  }

 private:
  /// src's rows into the interior of src_pad_ (the padding stays zero).
  void pad_src(const float* src) {
    const int64_t planes = g_.n * g_.ic;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t ih = 0; ih < g_.ih; ++ih)
        cpu_clones::run<copy_row>(
            src_pad_.data() + p * fwd_.in_plane() + (ih + g_.pad_top) * fwd_.in_cols + g_.pad_left,
            src + (p * g_.ih + ih) * g_.iw, g_.iw);
  }
  /// diff_dst's rows into the interior of dd_pad_.
  void pad_diff_dst(const float* diff_dst) {
    const int64_t planes = g_.n * g_.oc;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oh = 0; oh < g_.oh; ++oh)
        cpu_clones::run<copy_row>(dd_pad_.data() + p * bwd_.in_plane() + (oh + dd_row0_) * bwd_.in_cols + dd_col0_,
                                  diff_dst + (p * g_.oh + oh) * g_.ow, g_.ow);
  }

  ConvGeometry g_;
  Correlation fwd_, bwd_;
  int64_t dd_row0_ = 0, dd_col0_ = 0;
  std::vector<float> src_pad_, dd_pad_, wt_fwd_, wt_bwd_, init_fwd_, init_bwd_;
  /// The src whose copy src_pad_ holds from the forward just before, and the
  /// diff_dst whose copy dd_pad_ holds from the backward_weights just before
  /// (null: none to reuse).
  const float* padded_src_ = nullptr;
  const float* padded_diff_dst_ = nullptr;
};

}  // namespace

bool host_small_conv_suits(const ConvGeometry& g) {
  return g.groups == 1 && g.stride == 1 && !g.src_private && !g.dst_private && g.ic <= kMaxChannels &&
         g.oc <= kMaxChannels && g.kh == g.kw && g.kh <= kMaxKernel && g.pad_top < g.kh && g.pad_bottom < g.kh &&
         g.pad_left < g.kw && g.pad_right < g.kw && g.ow <= kMaxCols && g.iw <= kMaxCols && g.oh >= 1 && g.ow >= 1;
}

std::unique_ptr<ConvOp> make_host_small_conv(const ConvGeometry& g) {
  HPCNN_CHECK(host_small_conv_suits(g), "host small conv: geometry outside what it takes (", g.ic, " -> ", g.oc,
              " channels, ", g.kh, "x", g.kw, ", stride ", g.stride, ", groups ", g.groups, ")");
  return std::make_unique<HostSmallConv>(g);
}

}  // namespace hpcnn::kernels
