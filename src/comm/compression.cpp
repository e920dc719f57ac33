// The 16-bit conversions over arrays (comm/compression.hpp), cloned per ISA.
//
// Each loop is the scalar function's arithmetic with its branches turned into
// selects, so GCC vectorises it in every clone: the same integer operations on
// the same bits, hence the same results (tests/unit/test_compression_kernels.cpp
// compares every clone the machine has with the scalar functions on all 2^32
// float bit patterns). The only floating-point operations are the FP32 adds of
// widen_add (the same single add as the scalar `dst += from_16(src)`) and
// fp16's subnormal decoding m * 2^-24, which is exact (m < 2^10), so no
// contraction or reordering can change a bit. Built with -fno-trapping-math
// (src/CMakeLists.txt): without it GCC keeps that multiply, computed for every
// lane but selected for subnormals only, in a branch and fp16's widening
// stayed scalar (1.5 against 0.19 ns an element, AVX-512); it changes what
// GCC assumes about floating-point exception flags, which nothing reads, not
// any value.
#include "comm/compression.hpp"

#include <algorithm>
#include <type_traits>

namespace hpcnn::comm {

namespace {

using kernels::cpu_clones::Isa;

// bf16: round to nearest even on the top 16 bits; NaN keeps its top bits,
// quietened.
struct Bf16 {
  [[gnu::always_inline]] static uint32_t encode(uint32_t b) {
    const uint32_t rounded = (b + 0x7fffU + ((b >> 16) & 1U)) >> 16;
    return (b & 0x7fffffffU) > 0x7f800000U ? ((b >> 16) | 0x40U) : rounded;
  }
  [[gnu::always_inline]] static uint32_t decode(uint32_t h) { return h << 16; }
};

// fp16: to_fp16 / from_fp16 with every case computed and one selected.
struct Fp16 {
  [[gnu::always_inline]] static uint32_t encode(uint32_t b) {
    const uint32_t sign = (b >> 16) & 0x8000U;
    const uint32_t a = b & 0x7fffffffU;
    uint32_t r = a - (112U << 23);  // normal: rebias, to nearest even
    r += 0xfffU + ((r >> 13) & 1U);
    const uint32_t normal = r >> 13;
    // Subnormal: m >> (126 - e) to nearest even, written as the normal case's
    // carry (add half - 1 and the kept low bit); the shift is clamped to the
    // subnormal range, 14-24, from both sides, so that the other lanes shift
    // by a defined amount too (126 - e wraps for e > 126: a shift by ~2^32 is
    // undefined in C++, whatever x86 does with it).
    const uint32_t e = a >> 23, m = (a & 0x7fffffU) | 0x800000U;
    const int32_t t = 126 - static_cast<int32_t>(e);  // e < 102: |x| < 2^-25, 0 below
    const auto shift = static_cast<uint32_t>(std::clamp(t, 14, 24));
    const uint32_t subnormal = (m + ((1U << (shift - 1U)) - 1U) + ((m >> shift) & 1U)) >> shift;
    // The cases as masks (all ones where a case holds), so that GCC vectorises
    // the selection instead of branching.
    const uint32_t is_normal = 0U - static_cast<uint32_t>(a >= 0x38800000U);
    const uint32_t is_zero = 0U - static_cast<uint32_t>(a < 0x33000000U);      // below 2^-25
    const uint32_t is_clamped = 0U - static_cast<uint32_t>(a >= 0x477fe000U);  // >= 65504
    const uint32_t is_inf = 0U - static_cast<uint32_t>(a == 0x7f800000U);
    const uint32_t is_nan = 0U - static_cast<uint32_t>(a > 0x7f800000U);
    uint32_t h = (normal & is_normal) | (subnormal & ~is_normal & ~is_zero);
    h = (h & ~is_clamped) | (0x7bffU & is_clamped);
    h = (h & ~is_inf) | (0x7c00U & is_inf);
    h = (h & ~is_nan) | (0x7e00U & is_nan);
    return sign | h;
  }
  [[gnu::always_inline]] static uint32_t decode(uint32_t h) {
    const uint32_t sign = (h & 0x8000U) << 16;
    const uint32_t e = (h >> 10) & 0x1fU, m = h & 0x3ffU;
    const uint32_t subnormal = std::bit_cast<uint32_t>(static_cast<float>(static_cast<int32_t>(m)) * 0x1p-24f);
    const uint32_t special = 0x7f800000U | (m << 13);
    const uint32_t normal = ((e + 112U) << 23) | (m << 13);
    return sign | (e == 0 ? subnormal : (e == 31 ? special : normal));
  }
};

// fp16 on the baseline clone: SSE2 has no per-lane variable shift, so the
// vectorised subnormal rounding is emulated and ran 2.5x slower than the
// scalar to_fp16 (5.0 against 1.8 ns an element); the baseline encodes with
// the scalar function and decodes with the vector one.
struct Fp16Scalar {
  [[gnu::always_inline]] static uint32_t encode(uint32_t b) { return to_fp16(std::bit_cast<float>(b)); }
  [[gnu::always_inline]] static uint32_t decode(uint32_t h) { return Fp16::decode(h); }
};

template <typename F>
struct Loops {
  [[gnu::always_inline]] static float widened(uint16_t h) { return std::bit_cast<float>(F::decode(h)); }
  [[gnu::always_inline]] static float rounded(float x) {
    return std::bit_cast<float>(F::decode(F::encode(std::bit_cast<uint32_t>(x))));
  }

  HPCNN_CPU_CLONE static void encode(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<uint16_t>(F::encode(std::bit_cast<uint32_t>(src[i])));
  }
  HPCNN_CPU_CLONE static void widen(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = widened(src[i]);
  }
  HPCNN_CPU_CLONE static void widen_add(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] += widened(src[i]);
  }
  HPCNN_CPU_CLONE static void widen_add_round(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = rounded(dst[i] + widened(src[i]));
  }
  HPCNN_CPU_CLONE static void round(float* data, int64_t n) {
    for (int64_t i = 0; i < n; ++i) data[i] = rounded(data[i]);
  }
  // Add, then round, in two passes: for the baseline's fp16, whose scalar
  // encoding keeps the fused loop from vectorising its widening (4.4 ns an
  // element fused, 0.55 + 2.5 in two passes).
  HPCNN_CPU_CLONE static void widen_add_then_round(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
    widen_add(src, dst, n);
    round(dst, n);
  }
};

// One entry point per loop and clone, so a Codec16 is a table of plain
// function pointers (one indirect call per chunk, not per element).
template <Isa I, auto F, typename... A>
void via(A... args) {
  kernels::cpu_clones::run_isa<F>(I, args...);
}

template <typename F, Isa I>
constexpr Codec16 table() {
  using L = Loops<F>;
  constexpr auto add_round = std::is_same_v<F, Fp16Scalar> ? &L::widen_add_then_round : &L::widen_add_round;
  return {&via<I, &L::encode, const float*, uint16_t*, int64_t>, &via<I, &L::widen, const uint16_t*, float*, int64_t>,
          &via<I, &L::widen_add, const uint16_t*, float*, int64_t>,
          &via<I, add_round, const uint16_t*, float*, int64_t>, &via<I, &L::round, float*, int64_t>};
}

template <typename F>
const Codec16& pick(Isa isa) {
  using Baseline = std::conditional_t<std::is_same_v<F, Fp16>, Fp16Scalar, F>;
  static constexpr Codec16 kBaseline = table<Baseline, Isa::kBaseline>(), kV3 = table<F, Isa::kV3>(),
                           kV4 = table<F, Isa::kV4>();
  return isa == Isa::kV4 ? kV4 : isa == Isa::kV3 ? kV3 : kBaseline;
}

}  // namespace

const Codec16& bf16_codec(Isa isa) { return pick<Bf16>(isa); }
const Codec16& fp16_codec(Isa isa) { return pick<Fp16>(isa); }

}  // namespace hpcnn::comm
