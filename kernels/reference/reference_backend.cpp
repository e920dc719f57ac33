// The reference backend: the most obvious loops, no tricks, no threads.
// Every faster backend is tested against this one.
#include <cmath>
#include <limits>
#include <vector>

#include "host_backend.hpp"

namespace hpcnn::kernels {

namespace {

class ReferenceConv final : public ConvOp {
 public:
  explicit ReferenceConv(const ConvGeometry& g) : g_(g) {}

  // src (N, IC, IH, IW), weights (OC, IC, KH, KW), bias (OC) -> dst (N, OC, OH, OW)
  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t oc = 0; oc < g_.oc; ++oc)
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          for (int64_t ow = 0; ow < g_.ow; ++ow) {
            double acc = bias[oc];
            for (int64_t ic = 0; ic < g_.ic; ++ic)
              for (int64_t kh = 0; kh < g_.kh; ++kh)
                for (int64_t kw = 0; kw < g_.kw; ++kw) {
                  const int64_t ih = oh * g_.stride - g_.pad_top + kh, iw = ow * g_.stride - g_.pad_left + kw;
                  if (ih < 0 || ih >= g_.ih || iw < 0 || iw >= g_.iw) continue;
                  acc += static_cast<double>(src[((n * g_.ic + ic) * g_.ih + ih) * g_.iw + iw]) *
                         weights[((oc * g_.ic + ic) * g_.kh + kh) * g_.kw + kw];
                }
            dst[((n * g_.oc + oc) * g_.oh + oh) * g_.ow + ow] = static_cast<float>(acc);
          }
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    std::vector<double> acc(static_cast<size_t>(g_.n * g_.ic * g_.ih * g_.iw), 0.0);
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t oc = 0; oc < g_.oc; ++oc)
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          for (int64_t ow = 0; ow < g_.ow; ++ow) {
            const double d = diff_dst[((n * g_.oc + oc) * g_.oh + oh) * g_.ow + ow];
            for (int64_t ic = 0; ic < g_.ic; ++ic)
              for (int64_t kh = 0; kh < g_.kh; ++kh)
                for (int64_t kw = 0; kw < g_.kw; ++kw) {
                  const int64_t ih = oh * g_.stride - g_.pad_top + kh, iw = ow * g_.stride - g_.pad_left + kw;
                  if (ih < 0 || ih >= g_.ih || iw < 0 || iw >= g_.iw) continue;
                  acc[static_cast<size_t>(((n * g_.ic + ic) * g_.ih + ih) * g_.iw + iw)] +=
                      d * weights[((oc * g_.ic + ic) * g_.kh + kh) * g_.kw + kw];
                }
          }
    for (size_t i = 0; i < acc.size(); ++i) diff_src[i] = static_cast<float>(acc[i]);
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    std::vector<double> dw(static_cast<size_t>(g_.oc * g_.ic * g_.kh * g_.kw), 0.0);
    std::vector<double> db(static_cast<size_t>(g_.oc), 0.0);
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t oc = 0; oc < g_.oc; ++oc)
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          for (int64_t ow = 0; ow < g_.ow; ++ow) {
            const double d = diff_dst[((n * g_.oc + oc) * g_.oh + oh) * g_.ow + ow];
            db[static_cast<size_t>(oc)] += d;
            for (int64_t ic = 0; ic < g_.ic; ++ic)
              for (int64_t kh = 0; kh < g_.kh; ++kh)
                for (int64_t kw = 0; kw < g_.kw; ++kw) {
                  const int64_t ih = oh * g_.stride - g_.pad_top + kh, iw = ow * g_.stride - g_.pad_left + kw;
                  if (ih < 0 || ih >= g_.ih || iw < 0 || iw >= g_.iw) continue;
                  dw[static_cast<size_t>(((oc * g_.ic + ic) * g_.kh + kh) * g_.kw + kw)] +=
                      d * src[((n * g_.ic + ic) * g_.ih + ih) * g_.iw + iw];
                }
          }
    for (size_t i = 0; i < dw.size(); ++i) diff_weights[i] = static_cast<float>(dw[i]);
    for (size_t i = 0; i < db.size(); ++i) diff_bias[i] = static_cast<float>(db[i]);
  }

 private:
  ConvGeometry g_;
};

class ReferencePool final : public PoolOp {
 public:
  explicit ReferencePool(const PoolGeometry& g) : g_(g), argmax_(static_cast<size_t>(g.n * g.c * g.oh * g.ow)) {}

  // src (N, C, IH, IW) -> dst (N, C, OH, OW); argmax_ remembers the winner (first maximum).
  void forward(const float* src, float* dst) override {
    for (int64_t nc = 0; nc < g_.n * g_.c; ++nc)
      for (int64_t oh = 0; oh < g_.oh; ++oh)
        for (int64_t ow = 0; ow < g_.ow; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t at = 0;
          for (int64_t kh = 0; kh < g_.kernel; ++kh)
            for (int64_t kw = 0; kw < g_.kernel; ++kw) {
              const int64_t i = (nc * g_.ih + oh * g_.stride + kh) * g_.iw + ow * g_.stride + kw;
              if (src[i] > best || std::isnan(src[i])) {  // NaN propagates, as in PyTorch
                best = src[i];
                at = i;
              }
            }
          const int64_t o = (nc * g_.oh + oh) * g_.ow + ow;
          dst[o] = best;
          argmax_[static_cast<size_t>(o)] = at;
        }
  }

  void backward(const float* diff_dst, float* diff_src) override {
    for (int64_t i = 0; i < g_.n * g_.c * g_.ih * g_.iw; ++i) diff_src[i] = 0.0f;
    for (size_t o = 0; o < argmax_.size(); ++o) diff_src[argmax_[o]] += diff_dst[o];
  }

 private:
  PoolGeometry g_;
  std::vector<int64_t> argmax_;
};

class ReferenceDense final : public DenseOp {
 public:
  explicit ReferenceDense(const DenseGeometry& g) : g_(g) {}

  // src (N, IN), weights (OUT, IN), bias (OUT) -> dst (N, OUT)
  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t o = 0; o < g_.out; ++o) {
        double acc = bias[o];
        for (int64_t i = 0; i < g_.in; ++i) acc += static_cast<double>(src[n * g_.in + i]) * weights[o * g_.in + i];
        dst[n * g_.out + o] = static_cast<float>(acc);
      }
  }

  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t i = 0; i < g_.in; ++i) {
        double acc = 0.0;
        for (int64_t o = 0; o < g_.out; ++o)
          acc += static_cast<double>(diff_dst[n * g_.out + o]) * weights[o * g_.in + i];
        diff_src[n * g_.in + i] = static_cast<float>(acc);
      }
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    for (int64_t o = 0; o < g_.out; ++o) {
      double db = 0.0;
      for (int64_t n = 0; n < g_.n; ++n) db += diff_dst[n * g_.out + o];
      diff_bias[o] = static_cast<float>(db);
      for (int64_t i = 0; i < g_.in; ++i) {
        double acc = 0.0;
        for (int64_t n = 0; n < g_.n; ++n) acc += static_cast<double>(diff_dst[n * g_.out + o]) * src[n * g_.in + i];
        diff_weights[o * g_.in + i] = static_cast<float>(acc);
      }
    }
  }

 private:
  DenseGeometry g_;
};

class ReferenceBackend final : public HostBackend {
 public:
  std::string name() const override { return "reference"; }
  std::unique_ptr<ConvOp> make_conv(const ConvGeometry& g) override { return std::make_unique<ReferenceConv>(g); }
  std::unique_ptr<PoolOp> make_pool(const PoolGeometry& g) override { return std::make_unique<ReferencePool>(g); }
  std::unique_ptr<DenseOp> make_dense(const DenseGeometry& g) override { return std::make_unique<ReferenceDense>(g); }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() {
  flush_denormals_on_compute_threads();  // the same arithmetic as the fast backend
  return std::make_unique<ReferenceBackend>();
}

}  // namespace hpcnn::kernels
