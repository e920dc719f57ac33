// Host memory and the simple ops every CPU backend shares.
#include "host_backend.hpp"

#include "common/maths.hpp"
#include "core/error.hpp"
#include "cpu_clones.hpp"

#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#if defined(__SSE__)
#include <immintrin.h>
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace hpcnn::kernels {

// The host loops below are cloned for x86-64-v4 (kernels/cpu_clones.hpp).

namespace {
/// Runs f(first, last) over [0, count) split evenly across the OpenMP pool
/// (one call when count <= serial_max). For element-wise work: results do
/// not depend on the split.
template <class F>
void parallel_ranges(int64_t count, int64_t serial_max, F&& f) {
  if (count <= serial_max) {
    f(int64_t{0}, count);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    f(count * t / threads, count * (t + 1) / threads);
  }
}
constexpr int64_t kSerialMax = 65536;

HPCNN_CPU_CLONE void relu_range(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = maths::relu(src[i]);
}
HPCNN_CPU_CLONE void relu_grad_range(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = maths::relu_grad(y[i], dy[i]);
}
HPCNN_CPU_CLONE void multiply_range(const float* a, const float* b, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = a[i] * b[i];
}
HPCNN_CPU_CLONE void dropout_row(const float* x, float* y, int64_t n, uint64_t sample_key, uint32_t threshold,
                                 float keep_scale) {
  for (int64_t e = 0; e < n; ++e) y[e] = x[e] * maths::dropout_mask_value(sample_key, e, threshold, keep_scale);
}
HPCNN_CPU_CLONE void adam_range(float* p, const float* g, float* m, float* v, int64_t n, float lr_t, float beta1,
                                float beta2, float epsilon) {
  for (int64_t i = 0; i < n; ++i) maths::adam_one(p[i], g[i], m[i], v[i], lr_t, beta1, beta2, epsilon);
}
HPCNN_CPU_CLONE void sgd_range(float* p, const float* g, float* velocity, int64_t n, float lr, float momentum) {
  for (int64_t i = 0; i < n; ++i) maths::sgd_one(p[i], g[i], velocity[i], lr, momentum);
}
/// maths::max_pool_window for kernel 2, stride 2, unrolled and branch-free
/// over one output row: the same four comparisons in the same order, so the
/// same maximum and the same winner (first maximum, NaN wins). keras-cnn's
/// pool at batch 128, 2 threads: 5.8 -> 0.65 ms (`hpcnn bench layers`). Not
/// cloned for AVX-512: GCC's vectorisation of the strided loads made it 3x
/// slower (1.3 -> 4.0 ms on 1 thread). Without kArgmax (evaluation: no
/// backward) the winners are not stored: the same selects, the same values.
template <bool kArgmax>
void pool_2x2_row(const float* plane, int64_t iw, int64_t oh, int64_t ow_count, float* dst, int32_t* at) {
  const float* r0 = plane + 2 * oh * iw;
  const float* r1 = r0 + iw;
  const auto base = static_cast<int32_t>(2 * oh * iw);
  const auto width = static_cast<int32_t>(iw);
  for (int64_t ow = 0; ow < ow_count; ++ow) {
    const float x0 = r0[2 * ow], x1 = r0[2 * ow + 1], x2 = r1[2 * ow], x3 = r1[2 * ow + 1];
    const auto c = static_cast<int32_t>(2 * ow);
    float best = -HPCNN_INFF;
    int32_t where = base + c;
    bool take = x0 > best || std::isnan(x0);
    best = take ? x0 : best;
    take = x1 > best || std::isnan(x1);
    where = take ? base + c + 1 : where;
    best = take ? x1 : best;
    take = x2 > best || std::isnan(x2);
    where = take ? base + width + c : where;
    best = take ? x2 : best;
    take = x3 > best || std::isnan(x3);
    where = take ? base + width + c + 1 : where;
    best = take ? x3 : best;
    dst[ow] = best;
    if constexpr (kArgmax) at[ow] = where;
  }
}
/// Other windows: the same rule as maths::max_pool_window, with K a
/// constant for the common sides so the window unrolls into selects without
/// branches on the data (a mispredicted branch per element made tiny-cnn's
/// 4x4 pool 0.39 ms at batch 64 on 1 thread; unrolled 0.1 ms).
template <int K, bool kArgmax>
void pool_window_row(const float* plane, int64_t iw, int64_t oh, int64_t ow_count, int64_t kernel, int64_t stride,
                     float* dst, int32_t* at) {
  const int64_t k = K > 0 ? K : kernel;
  for (int64_t ow = 0; ow < ow_count; ++ow) {
    float best = -HPCNN_INFF;
    auto where = static_cast<int32_t>(oh * stride * iw + ow * stride);
    for (int64_t kh = 0; kh < k; ++kh) {
      const int64_t row = (oh * stride + kh) * iw + ow * stride;
      for (int64_t kw = 0; kw < k; ++kw) {
        const float x = plane[row + kw];
        const bool take = x > best || std::isnan(x);
        where = take ? static_cast<int32_t>(row + kw) : where;
        best = take ? x : best;
      }
    }
    dst[ow] = best;
    if constexpr (kArgmax) at[ow] = where;
  }
}
}  // namespace

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

namespace {
/// The backend registry: one row per BackendKind, in --help's order, with
/// everything the name, choice list, parser and factory need.
struct BackendEntry {
  BackendKind kind;
  const char* name;
  const char* note;  ///< appended to the name in backend_choices()
  bool bf16;         ///< takes --precision bf16
  std::unique_ptr<Backend> (*make)(const BackendOptions&);
};
const BackendEntry kBackends[] = {
    {BackendKind::kOnednn, "onednn", "", true,
     [](const BackendOptions& o) { return make_onednn_backend(o.threads, o.precision); }},
    {BackendKind::kReference, "reference", "", false, [](const BackendOptions&) { return make_reference_backend(); }},
    {BackendKind::kCuda, "cuda", "", false, [](const BackendOptions& o) { return make_cuda_backend(o); }},
    {BackendKind::kPoisoned, "poisoned", " (a test backend)", false,
     [](const BackendOptions&) { return make_poisoned_backend(); }},
};
const BackendEntry& backend_entry(BackendKind kind) {
  for (const BackendEntry& e : kBackends) {
    if (e.kind == kind) return e;
  }
  HPCNN_THROW("unknown backend kind ", static_cast<int>(kind));
}
}  // namespace

const char* backend_name(BackendKind kind) { return backend_entry(kind).name; }

std::string backend_choices() {
  std::string text;
  for (const BackendEntry& e : kBackends) text += std::string(text.empty() ? "" : " | ") + e.name + e.note;
  return text;
}

BackendKind parse_backend(const std::string& text) {
  for (const BackendEntry& e : kBackends) {
    if (text == e.name) return e.kind;
  }
  throw UsageError("--backend: unknown backend '" + text + "' (expected " + backend_choices() + ")");
}

const char* precision_name(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "bf16") return Precision::kBf16;
  throw UsageError("--precision: unknown precision '" + text + "' (expected fp32 or bf16)");
}

std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& options) {
  const BackendEntry& e = backend_entry(kind);
  if (options.precision != Precision::kFp32 && !e.bf16) {
    throw UsageError(std::string("--precision ") + precision_name(options.precision) +
                     ": only the onednn backend has it, not " + e.name);
  }
  return e.make(options);
}

std::unique_ptr<Backend> make_backend(BackendKind kind, int threads) {
  BackendOptions options;
  options.threads = threads;
  return make_backend(kind, options);
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
  void forward(const float* src, float* dst) override { pool<true>(src, dst); }

  // forward's dst alone: no argmax written (evaluation has no backward).
  void forward_inference(const float* src, float* dst) override { pool<false>(src, dst); }

  void backward(const float* diff_dst, float* diff_src) override {
    const int64_t planes = g_.n * g_.c, in_plane = g_.ih * g_.iw, out_plane = g_.oh * g_.ow;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      float* ds = diff_src + p * in_plane;
      const float* dd = diff_dst + p * out_plane;
      const int32_t* a = argmax_.data() + p * out_plane;
      for (int64_t i = 0; i < in_plane; ++i) ds[i] = 0.0f;
      // Branch-free: a stopped winner (~at) gets +0, which leaves its 0 as
      // the ReLU's gradient would (and never lets a NaN through).
      for (int64_t o = 0; o < out_plane; ++o) {
        const bool pass = a[o] >= 0;
        ds[pass ? a[o] : ~a[o]] += pass ? dd[o] : 0.0f;
      }
    }
  }

 private:
  template <bool kArgmax>
  void pool(const float* src, float* dst) {
    const int64_t planes = g_.n * g_.c, in_plane = g_.ih * g_.iw, out_plane = g_.oh * g_.ow;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const float* s = src + p * in_plane;
      float* d = dst + p * out_plane;
      int32_t* a = kArgmax ? argmax_.data() + p * out_plane : nullptr;
      if (g_.kernel == 2 && g_.stride == 2) {
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          pool_2x2_row<kArgmax>(s, g_.iw, oh, g_.ow, d + oh * g_.ow, kArgmax ? a + oh * g_.ow : nullptr);
      } else {
        const auto row = g_.kernel == 3   ? pool_window_row<3, kArgmax>
                         : g_.kernel == 4 ? pool_window_row<4, kArgmax>
                                          : pool_window_row<0, kArgmax>;
        for (int64_t oh = 0; oh < g_.oh; ++oh)
          row(s, g_.iw, oh, g_.ow, g_.kernel, g_.stride, d + oh * g_.ow, kArgmax ? a + oh * g_.ow : nullptr);
      }
      // A ReLU's gradient folded in: src is its output, so the winner is
      // where its gradient passes, exactly when the maximum is > 0 (the
      // ReLU's rule on its output; NaN and 0 stop it). Stopped winners are
      // stored complemented (~at < 0).
      if constexpr (kArgmax) {
        if (g_.relu_grad) {
          for (int64_t o = 0; o < out_plane; ++o) a[o] = d[o] > 0.0f ? a[o] : ~a[o];
        }
      }
    }
  }

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
  parallel_ranges(count, kSerialMax,
                  [&](int64_t a, int64_t b) { cpu_clones::run<relu_range>(src + a, dst + a, b - a); });
}

void HostBackend::relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) {
  parallel_ranges(count, kSerialMax, [&](int64_t a, int64_t b) {
    cpu_clones::run<relu_grad_range>(dst + a, diff_dst + a, diff_src + a, b - a);
  });
}

void HostBackend::multiply(const float* a, const float* b, float* dst, int64_t count) {
  parallel_ranges(count, kSerialMax,
                  [&](int64_t x, int64_t y) { cpu_clones::run<multiply_range>(a + x, b + x, dst + x, y - x); });
}

namespace {
// dst = src * mask, the mask recomputed from (layer key, sample, element).
// Parallel over samples: each sample's elements are one thread's.
void apply_dropout(const float* src, float* dst, int64_t n, int64_t per_sample, const int64_t* sample_indices,
                   const DropoutParams& d) {
#pragma omp parallel for schedule(static) if (n * per_sample > 65536)
  for (int64_t s = 0; s < n; ++s) {
    cpu_clones::run<dropout_row>(src + s * per_sample, dst + s * per_sample, per_sample,
                                 maths::dropout_sample_key(d.layer_key, sample_indices[s]), d.threshold, d.keep_scale);
  }
}
}  // namespace

void HostBackend::dropout_forward(const float* src, float* dst, int64_t n, int64_t per_sample,
                                  const int64_t* host_sample_indices, const DropoutParams& d) {
  apply_dropout(src, dst, n, per_sample, host_sample_indices, d);
}

void HostBackend::dropout_backward(const float* diff_dst, float* diff_src, int64_t n, int64_t per_sample,
                                   const int64_t* host_sample_indices, const DropoutParams& d) {
  apply_dropout(diff_dst, diff_src, n, per_sample, host_sample_indices, d);
}

void HostBackend::softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k,
                                        float scale, float* diff_logits) {
  for (int64_t i = 0; i < n; ++i) {
    maths::softmax_cross_entropy_row(logits + i * k, k, host_labels[i], scale, diff_logits + i * k, &loss_.loss_sum,
                                     &loss_.correct);
  }
}

void HostBackend::mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                                     float* diff) {
  for (int64_t i = 0; i < n * t; ++i)
    loss_.loss_sum += maths::squared_error_one(pred[i], target[i], t, scale, diff + i);
}

LossResult HostBackend::read_loss() {
  const LossResult r = loss_;
  loss_ = {};
  return r;
}

namespace {
/// Above this many parameters Adam's state no longer fits in cache, and the
/// pass is bound by memory traffic: it then writes with non-temporal stores.
constexpr int64_t kStreamingAdamMin = int64_t{1} << 21;  // 2 Mi floats: 32 MiB of params, grads, m and v

#if defined(__SSE__)
/// maths::adam_one on [first, last), four lanes at a time with the same
/// operations in the same order (IEEE single precision, no FMA: bitwise the
/// same results), params, m and v written with streaming stores that skip the
/// read-for-ownership of lines about to be overwritten. Adam over
/// mlp:3200-1600-832's 6.6 M parameters on 1 thread: 13.9 -> 5.0 ms (AMD
/// EPYC; /tmp microbenchmark, same output bits).
void adam_streaming(float* p, const float* g, float* m, float* v, int64_t first, int64_t last, const AdamStep& s) {
  int64_t i = first;
  const auto aligned = [](const float* x) { return (reinterpret_cast<uintptr_t>(x) & 15) == 0; };
  for (; i < last && !aligned(p + i); ++i) maths::adam_one(p[i], g[i], m[i], v[i], s.lr_t, s.beta1, s.beta2, s.epsilon);
  const bool m_aligned = aligned(m + i), v_aligned = aligned(v + i);
  const __m128 b1 = _mm_set1_ps(s.beta1), b2 = _mm_set1_ps(s.beta2), c1 = _mm_set1_ps(1.0f - s.beta1),
               c2 = _mm_set1_ps(1.0f - s.beta2), lr = _mm_set1_ps(s.lr_t), eps = _mm_set1_ps(s.epsilon);
  for (; i + 4 <= last; i += 4) {
    const __m128 gi = _mm_loadu_ps(g + i);
    const __m128 mi = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(c1, gi));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(c2, gi), gi));
    const __m128 pi = _mm_sub_ps(_mm_load_ps(p + i), _mm_div_ps(_mm_mul_ps(lr, mi), _mm_add_ps(_mm_sqrt_ps(vi), eps)));
    _mm_stream_ps(p + i, pi);
    if (m_aligned) {
      _mm_stream_ps(m + i, mi);
    } else {
      _mm_storeu_ps(m + i, mi);
    }
    if (v_aligned) {
      _mm_stream_ps(v + i, vi);
    } else {
      _mm_storeu_ps(v + i, vi);
    }
  }
  _mm_sfence();  // streaming stores are weakly ordered: publish them before the pass ends
  for (; i < last; ++i) maths::adam_one(p[i], g[i], m[i], v[i], s.lr_t, s.beta1, s.beta2, s.epsilon);
}
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HPCNN_ADAM_STREAMING_V4 1
/// adam_streaming sixteen lanes at a time, for CPUs with x86-64-v4
/// (cpu_clones::use_v4()): the same operations in the same order, so the same
/// bits. The four-lane loop's square roots and divisions kept it near compute
/// bound: mlp:3200-1600-832's 6.6 M parameters on 1 thread, see
/// results/roofline/README.md.
__attribute__((target("arch=x86-64-v4"))) void adam_streaming_v4(float* p, const float* g, float* m, float* v,
                                                                 int64_t first, int64_t last, const AdamStep& s) {
  int64_t i = first;
  const auto aligned = [](const float* x) { return (reinterpret_cast<uintptr_t>(x) & 63) == 0; };
  for (; i < last && !aligned(p + i); ++i) maths::adam_one(p[i], g[i], m[i], v[i], s.lr_t, s.beta1, s.beta2, s.epsilon);
  const bool m_aligned = aligned(m + i), v_aligned = aligned(v + i);
  const __m512 b1 = _mm512_set1_ps(s.beta1), b2 = _mm512_set1_ps(s.beta2), c1 = _mm512_set1_ps(1.0f - s.beta1),
               c2 = _mm512_set1_ps(1.0f - s.beta2), lr = _mm512_set1_ps(s.lr_t), eps = _mm512_set1_ps(s.epsilon);
  // maskz_sqrt: the all-lanes sqrt with a zero (not an undefined) pass-through,
  // which GCC 12 reports as maybe-uninitialised.
  for (; i + 16 <= last; i += 16) {
    const __m512 gi = _mm512_loadu_ps(g + i);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(c1, gi));
    const __m512 vi =
        _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
    const __m512 pi =
        _mm512_sub_ps(_mm512_load_ps(p + i),
                      _mm512_div_ps(_mm512_mul_ps(lr, mi), _mm512_add_ps(_mm512_maskz_sqrt_ps(0xFFFF, vi), eps)));
    _mm512_stream_ps(p + i, pi);
    if (m_aligned) {
      _mm512_stream_ps(m + i, mi);
    } else {
      _mm512_storeu_ps(m + i, mi);
    }
    if (v_aligned) {
      _mm512_stream_ps(v + i, vi);
    } else {
      _mm512_storeu_ps(v + i, vi);
    }
  }
  _mm_sfence();
  for (; i < last; ++i) maths::adam_one(p[i], g[i], m[i], v[i], s.lr_t, s.beta1, s.beta2, s.epsilon);
}
#endif
}  // namespace

void HostBackend::adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& s) {
#if defined(__SSE__)
  if (count >= kStreamingAdamMin) {
#pragma omp parallel
    {
      const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t a = count * t / threads, b = count * (t + 1) / threads;
#if defined(HPCNN_ADAM_STREAMING_V4)
      if (cpu_clones::use_v4()) {
        adam_streaming_v4(params, grads, m, v, a, b, s);
      } else {
        adam_streaming(params, grads, m, v, a, b, s);
      }
#else
      adam_streaming(params, grads, m, v, a, b, s);
#endif
    }
    return;
  }
#endif
  parallel_ranges(count, kSerialMax, [&](int64_t a, int64_t b) {
    cpu_clones::run<adam_range>(params + a, grads + a, m + a, v + a, b - a, s.lr_t, s.beta1, s.beta2, s.epsilon);
  });
}

void HostBackend::sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                             float momentum) {
  parallel_ranges(count, kSerialMax, [&](int64_t a, int64_t b) {
    cpu_clones::run<sgd_range>(params + a, grads + a, velocity + a, b - a, lr, momentum);
  });
}

}  // namespace hpcnn::kernels
