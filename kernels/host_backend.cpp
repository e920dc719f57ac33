// Host memory and the simple ops every CPU backend shares.
#include "host_backend.hpp"

#include "core/error.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#if defined(__SSE__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace hpcnn::kernels {

namespace {
void flush_denormals_here() {
#if defined(__SSE__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}
bool denormals_flushed_here() {
#if defined(__SSE__)
  return _MM_GET_FLUSH_ZERO_MODE() == _MM_FLUSH_ZERO_ON && _MM_GET_DENORMALS_ZERO_MODE() == _MM_DENORMALS_ZERO_ON;
#else
  return true;
#endif
}
}  // namespace

const char* backend_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::kOnednn: return "onednn";
    case BackendKind::kReference: return "reference";
  }
  HPCNN_THROW("unknown backend kind ", static_cast<int>(kind));
}

namespace {
constexpr BackendKind kAllBackends[] = {BackendKind::kOnednn, BackendKind::kReference};
}  // namespace

std::string backend_choices() {
  std::string text;
  for (BackendKind k : kAllBackends) text += std::string(text.empty() ? "" : " | ") + backend_name(k);
  return text;
}

BackendKind parse_backend(const std::string& text) {
  for (BackendKind k : kAllBackends) {
    if (text == backend_name(k)) return k;
  }
  throw UsageError("--backend: unknown backend '" + text + "' (expected " + backend_choices() + ")");
}

std::unique_ptr<Backend> make_backend(BackendKind kind, int threads) {
  switch (kind) {
    case BackendKind::kOnednn: return make_onednn_backend(threads);
    case BackendKind::kReference: return make_reference_backend();
  }
  HPCNN_THROW("unknown backend kind ", static_cast<int>(kind));
}

void flush_denormals_on_compute_threads() {
  flush_denormals_here();
  // Every thread of the pool runs the region once; threads the pool starts
  // later inherit the setting from the thread that creates them.
#pragma omp parallel
  flush_denormals_here();
}

bool denormals_flushed_on_compute_threads() {
  int all = denormals_flushed_here() ? 1 : 0;
#pragma omp parallel reduction(min : all)
  all = denormals_flushed_here() ? 1 : 0;
  return all == 1;
}

float* HostBackend::allocate(int64_t count) {
  // A request beyond physical memory would fail (std::bad_alloc, no size
  // named) or, with overcommit, succeed and get the process killed in the
  // memset below: refuse it with the size instead.
  const double gib = static_cast<double>(count) * sizeof(float) / (1024.0 * 1024 * 1024);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGESIZE);
  const double physical = pages > 0 && page_size > 0 ? static_cast<double>(pages) * static_cast<double>(page_size) : 0;
  HPCNN_CHECK(count >= 0 && (physical == 0 || static_cast<double>(count) * sizeof(float) <= physical),
              "cannot allocate a buffer of ", count, " floats (", gib, " GiB): more than this machine's memory",
              " (a smaller --batch or model?)");
  const size_t bytes = ((static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  HPCNN_CHECK(p != nullptr, "cannot allocate a buffer of ", count, " floats (", gib, " GiB): out of memory");
  std::memset(p, 0, bytes);
  return static_cast<float*>(p);
}

void HostBackend::release(float* p) { std::free(p); }

void HostBackend::upload(float* dst, const float* host_src, int64_t count) {
  if (count > 0) std::memcpy(dst, host_src, static_cast<size_t>(count) * sizeof(float));
}

void HostBackend::download(float* host_dst, const float* src, int64_t count) {
  if (count > 0) std::memcpy(host_dst, src, static_cast<size_t>(count) * sizeof(float));
}

void HostBackend::copy(float* dst, const float* src, int64_t count) {
  if (count > 0) std::memmove(dst, src, static_cast<size_t>(count) * sizeof(float));
}

namespace {
class HostMaxPool final : public PoolOp {
 public:
  explicit HostMaxPool(const PoolGeometry& g) : g_(g), argmax_(static_cast<size_t>(g.n * g.c * g.oh * g.ow)) {}

  // src (N, C, IH, IW) -> dst (N, C, OH, OW); argmax_ holds the winner's offset in its plane.
  void forward(const float* src, float* dst) override {
    const int64_t planes = g_.n * g_.c, in_plane = g_.ih * g_.iw, out_plane = g_.oh * g_.ow;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const float* s = src + p * in_plane;
      float* d = dst + p * out_plane;
      int32_t* a = argmax_.data() + p * out_plane;
      for (int64_t oh = 0; oh < g_.oh; ++oh)
        for (int64_t ow = 0; ow < g_.ow; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t at = 0;
          for (int64_t kh = 0; kh < g_.kernel; ++kh) {
            const int64_t row = (oh * g_.stride + kh) * g_.iw + ow * g_.stride;
            for (int64_t kw = 0; kw < g_.kernel; ++kw) {
              if (s[row + kw] > best || std::isnan(s[row + kw])) {  // first maximum (or NaN) wins
                best = s[row + kw];
                at = row + kw;
              }
            }
          }
          d[oh * g_.ow + ow] = best;
          a[oh * g_.ow + ow] = static_cast<int32_t>(at);
        }
    }
  }

  void backward(const float* diff_dst, float* diff_src) override {
    const int64_t planes = g_.n * g_.c, in_plane = g_.ih * g_.iw, out_plane = g_.oh * g_.ow;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      float* ds = diff_src + p * in_plane;
      const float* dd = diff_dst + p * out_plane;
      const int32_t* a = argmax_.data() + p * out_plane;
      for (int64_t i = 0; i < in_plane; ++i) ds[i] = 0.0f;
      for (int64_t o = 0; o < out_plane; ++o) ds[a[o]] += dd[o];
    }
  }

 private:
  PoolGeometry g_;
  std::vector<int32_t> argmax_;
};
}  // namespace

std::unique_ptr<PoolOp> make_host_max_pool(const PoolGeometry& g) { return std::make_unique<HostMaxPool>(g); }

void HostBackend::fill(float* dst, float value, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) dst[i] = value;
}

void HostBackend::relu_forward(const float* src, float* dst, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  // `src < 0` is false for NaN: NaN passes through, so bad data reaches the loss check.
  for (int64_t i = 0; i < count; ++i) dst[i] = src[i] < 0.0f ? 0.0f : src[i];
}

void HostBackend::relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) diff_src[i] = dst[i] > 0.0f ? diff_dst[i] : 0.0f;
}

void HostBackend::multiply(const float* a, const float* b, float* dst, int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) dst[i] = a[i] * b[i];
}

LossResult HostBackend::softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k,
                                              float scale, float* diff_logits) {
  LossResult r;
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
    r.loss_sum += std::log(sum) - (static_cast<double>(row[label]) - max);
    r.correct += arg == label;
    for (int64_t j = 0; j < k; ++j) {
      const double p = std::exp(static_cast<double>(row[j]) - max) / sum;
      diff[j] = static_cast<float>(scale * (p - (j == label ? 1.0 : 0.0)));
    }
  }
  return r;
}

LossResult HostBackend::mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                                           float* diff) {
  LossResult r;
  for (int64_t i = 0; i < n * t; ++i) {
    const double e = static_cast<double>(pred[i]) - target[i];
    r.loss_sum += e * e / static_cast<double>(t);
    diff[i] = static_cast<float>(scale * 2.0 * e / static_cast<double>(t));
  }
  return r;
}

void HostBackend::adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& s) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const float g = grads[i];
    m[i] = s.beta1 * m[i] + (1.0f - s.beta1) * g;
    v[i] = s.beta2 * v[i] + (1.0f - s.beta2) * g * g;
    params[i] -= s.lr_t * m[i] / (std::sqrt(v[i]) + s.epsilon);
  }
}

void HostBackend::sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                             float momentum) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    velocity[i] = momentum * velocity[i] - lr * grads[i];
    params[i] += velocity[i];
  }
}

}  // namespace hpcnn::kernels
