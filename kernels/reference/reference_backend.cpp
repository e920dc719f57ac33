// The reference backend: the most obvious loops, no tricks, no threads.
// Every faster backend is tested against this one.
#include <cmath>
#include <limits>
#include <vector>

#include "core/rng.hpp"
#include "host_backend.hpp"

namespace hpcnn::kernels {

namespace {

class ReferenceConv final : public ConvOp {
 public:
  explicit ReferenceConv(const ConvGeometry& g) : g_(g) {}

  // src (N, IC, IH, IW), weights (OC, IC / groups, KH, KW), bias (OC) -> dst (N, OC, OH, OW)
  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t oc = 0; oc < g_.oc; ++oc)
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          for (int64_t ow = 0; ow < g_.ow; ++ow) {
            double acc = bias != nullptr ? bias[oc] : 0.0;
            for (int64_t icl = 0; icl < icg(); ++icl)
              for (int64_t kh = 0; kh < g_.kh; ++kh)
                for (int64_t kw = 0; kw < g_.kw; ++kw) {
                  const int64_t ih = oh * g_.stride - g_.pad_top + kh, iw = ow * g_.stride - g_.pad_left + kw;
                  if (ih < 0 || ih >= g_.ih || iw < 0 || iw >= g_.iw) continue;
                  const int64_t ic = oc / ocg() * icg() + icl;  // input channel icl of oc's group
                  acc += static_cast<double>(src[((n * g_.ic + ic) * g_.ih + ih) * g_.iw + iw]) *
                         weights[((oc * icg() + icl) * g_.kh + kh) * g_.kw + kw];
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
            for (int64_t icl = 0; icl < icg(); ++icl)
              for (int64_t kh = 0; kh < g_.kh; ++kh)
                for (int64_t kw = 0; kw < g_.kw; ++kw) {
                  const int64_t ih = oh * g_.stride - g_.pad_top + kh, iw = ow * g_.stride - g_.pad_left + kw;
                  if (ih < 0 || ih >= g_.ih || iw < 0 || iw >= g_.iw) continue;
                  const int64_t ic = oc / ocg() * icg() + icl;  // input channel icl of oc's group
                  acc[static_cast<size_t>(((n * g_.ic + ic) * g_.ih + ih) * g_.iw + iw)] +=
                      d * weights[((oc * icg() + icl) * g_.kh + kh) * g_.kw + kw];
                }
          }
    for (size_t i = 0; i < acc.size(); ++i) diff_src[i] = static_cast<float>(acc[i]);
  }

  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    std::vector<double> dw(static_cast<size_t>(g_.oc * icg() * g_.kh * g_.kw), 0.0);
    std::vector<double> db(static_cast<size_t>(g_.oc), 0.0);
    for (int64_t n = 0; n < g_.n; ++n)
      for (int64_t oc = 0; oc < g_.oc; ++oc)
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          for (int64_t ow = 0; ow < g_.ow; ++ow) {
            const double d = diff_dst[((n * g_.oc + oc) * g_.oh + oh) * g_.ow + ow];
            db[static_cast<size_t>(oc)] += d;
            for (int64_t icl = 0; icl < icg(); ++icl)
              for (int64_t kh = 0; kh < g_.kh; ++kh)
                for (int64_t kw = 0; kw < g_.kw; ++kw) {
                  const int64_t ih = oh * g_.stride - g_.pad_top + kh, iw = ow * g_.stride - g_.pad_left + kw;
                  if (ih < 0 || ih >= g_.ih || iw < 0 || iw >= g_.iw) continue;
                  const int64_t ic = oc / ocg() * icg() + icl;  // input channel icl of oc's group
                  dw[static_cast<size_t>(((oc * icg() + icl) * g_.kh + kh) * g_.kw + kw)] +=
                      d * src[((n * g_.ic + ic) * g_.ih + ih) * g_.iw + iw];
                }
          }
    for (size_t i = 0; i < dw.size(); ++i) diff_weights[i] = static_cast<float>(dw[i]);
    if (diff_bias != nullptr)
      for (size_t i = 0; i < db.size(); ++i) diff_bias[i] = static_cast<float>(db[i]);
  }

 private:
  int64_t icg() const { return g_.ic / g_.groups; }  ///< input channels per group
  int64_t ocg() const { return g_.oc / g_.groups; }  ///< output channels per group
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

  // The element-wise ops, dropout, losses and optimizers written out again,
  // independently of kernels/common/maths.hpp, as the oracle the shared maths
  // (and so every other backend) is tested against, bitwise.
  void relu_forward(const float* src, float* dst, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) dst[i] = std::isnan(src[i]) || src[i] >= 0.0f ? src[i] : 0.0f;
  }

  void relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) diff_src[i] = dst[i] > 0.0f ? diff_dst[i] : 0.0f;
  }

  void multiply(const float* a, const float* b, float* dst, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) dst[i] = a[i] * b[i];
  }

  // The documented mask: keep element e of sample s when the top 24 bits of
  // splitmix64(splitmix64(key ^ splitmix64(s)) + e) reach the threshold.
  void dropout_forward(const float* src, float* dst, int64_t n, int64_t per_sample, const int64_t* host_sample_indices,
                       const DropoutParams& d) override {
    for (int64_t s = 0; s < n; ++s)
      for (int64_t e = 0; e < per_sample; ++e) {
        const uint64_t sample_key = splitmix64(d.layer_key ^ splitmix64(static_cast<uint64_t>(host_sample_indices[s])));
        const uint64_t bits = splitmix64(sample_key + static_cast<uint64_t>(e)) >> 40;
        const float mask = bits >= d.threshold ? d.keep_scale : 0.0f;
        dst[s * per_sample + e] = src[s * per_sample + e] * mask;
      }
  }

  void dropout_backward(const float* diff_dst, float* diff_src, int64_t n, int64_t per_sample,
                        const int64_t* host_sample_indices, const DropoutParams& d) override {
    dropout_forward(diff_dst, diff_src, n, per_sample, host_sample_indices, d);  // the same mask, the same product
  }

  void softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k, float scale,
                             float* diff_logits) override {
    for (int64_t i = 0; i < n; ++i) {
      // logits (N, K): stable softmax of row i.
      const float* row = logits + i * k;
      float* diff = diff_logits + i * k;
      int64_t arg = 0;
      for (int64_t j = 1; j < k; ++j) arg = row[j] > row[arg] ? j : arg;
      const double max = row[arg];
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
      const int32_t label = host_labels[i];
      loss_.loss_sum += std::log(sum) - (static_cast<double>(row[label]) - max);
      loss_.correct += arg == label;
      for (int64_t j = 0; j < k; ++j) {
        const double p = std::exp(static_cast<double>(row[j]) - max) / sum;
        diff[j] = static_cast<float>(scale * (p - (j == label ? 1.0 : 0.0)));
      }
    }
  }

  void mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                          float* diff) override {
    for (int64_t i = 0; i < n * t; ++i) {
      const double e = static_cast<double>(pred[i]) - target[i];
      loss_.loss_sum += e * e / static_cast<double>(t);
      diff[i] = static_cast<float>(scale * 2.0 * e / static_cast<double>(t));
    }
  }

  void adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& s) override {
    for (int64_t i = 0; i < count; ++i) {
      const float g = grads[i];
      m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * g;
      v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * g * g;
      params[i] -= s.lr_t * m[i] / (std::sqrt(v[i]) + s.epsilon);
    }
  }

  void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                  float momentum) override {
    for (int64_t i = 0; i < count; ++i) {
      velocity[i] = momentum * velocity[i] - lr * grads[i];
      params[i] += velocity[i];
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() {
  flush_denormals_on_compute_threads();  // the same arithmetic as the fast backend
  return std::make_unique<ReferenceBackend>();
}

}  // namespace hpcnn::kernels
