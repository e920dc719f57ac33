// 16-bit formats for compressed gradient messages (--grad-compression).
//
// bf16 (bfloat16: FP32's sign, exponent and top 7 mantissa bits): round to
// nearest, ties to even; NaN stays NaN (quiet); values beyond bf16's largest
// finite round to infinity, as IEEE rounding does (bf16 has FP32's range, so
// only FP32 values within half an ulp of FP32's largest get there).
//
// fp16 (IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits): round to
// nearest, ties to even, subnormals kept (below 2^-14 the spacing is 2^-24;
// magnitudes up to 2^-25 become 0). Overflow is clamped, not scaled: a finite
// value beyond the largest finite fp16 (65504) becomes +-65504, so a large
// gradient sum arrives large, not infinite (a scale factor would need an
// extra exchange per message, or a guess). Infinities stay infinite and NaN
// stays NaN (quiet), so a diverged run still diverges. Written out bit by bit
// (no _Float16, no F16C): the same bits with every compiler and CPU.
#pragma once

#include <bit>
#include <cstdint>

#include "cpu_clones.hpp"

namespace hpcnn::comm {

/// Unit roundoff of bf16 (8 significant bits): |round_bf16(x) - x| <= 2^-8 |x|.
inline constexpr double kBf16UnitRoundoff = 1.0 / 256.0;

inline uint16_t to_bf16(float x) {
  uint32_t b = std::bit_cast<uint32_t>(x);
  if ((b & 0x7fffffffU) > 0x7f800000U) return static_cast<uint16_t>((b >> 16) | 0x40U);  // quiet NaN
  b += 0x7fffU + ((b >> 16) & 1U);
  return static_cast<uint16_t>(b >> 16);
}
inline float from_bf16(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }
inline float round_bf16(float x) { return from_bf16(to_bf16(x)); }

/// Unit roundoff of fp16 (11 significant bits) for normal values:
/// |round_fp16(x) - x| <= 2^-11 |x| when 2^-14 <= |x| <= 65504; below 2^-14
/// the error is at most kFp16SubnormalHalfSpacing (absolute).
inline constexpr double kFp16UnitRoundoff = 1.0 / 2048.0;
inline constexpr double kFp16SubnormalHalfSpacing = 1.0 / (1 << 25);  // 2^-25
/// The largest finite fp16; larger finite values are clamped to it.
inline constexpr float kFp16Max = 65504.0f;

inline uint16_t to_fp16(float x) {
  const uint32_t b = std::bit_cast<uint32_t>(x);
  const auto sign = static_cast<uint16_t>((b >> 16) & 0x8000U);
  const uint32_t a = b & 0x7fffffffU;
  if (a > 0x7f800000U) return static_cast<uint16_t>(sign | 0x7e00U);   // quiet NaN
  if (a == 0x7f800000U) return static_cast<uint16_t>(sign | 0x7c00U);  // infinity
  if (a >= 0x477fe000U) return static_cast<uint16_t>(sign | 0x7bffU);  // >= 65504: clamped
  if (a >= 0x38800000U) {                                              // normal: 2^-14 <= |x| < 65504
    uint32_t r = a - (112U << 23);                                     // rebias the exponent (127 -> 15)
    r += 0xfffU + ((r >> 13) & 1U);                                    // to nearest even; may carry up
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (a < 0x33000000U) return sign;  // below 2^-25: 0
  // Subnormal: |x| = m 2^(e - 150); in units of 2^-24 that is m >> (126 - e).
  const uint32_t e = a >> 23, m = (a & 0x7fffffU) | 0x800000U;
  const uint32_t shift = 126U - e;  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1U << shift) - 1U), half = 1U << (shift - 1U);
  if (rem > half || (rem == half && (q & 1U) != 0)) ++q;  // 0x400 is the smallest normal: still right
  return static_cast<uint16_t>(sign | q);
}

inline float from_fp16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000U) << 16;
  const uint32_t e = (h >> 10) & 0x1fU, m = h & 0x3ffU;
  if (e == 0) return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(static_cast<float>(m) * 0x1p-24f));
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000U | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112U) << 23) | (m << 13));
}
inline float round_fp16(float x) { return from_fp16(to_fp16(x)); }

/// One 16-bit format's conversions over arrays (compression.cpp): bitwise the
/// scalar functions above, element by element, written as integer arithmetic
/// on the bits (exact on every ISA; not vcvtne2ps2bf16, which flushes FP32
/// denormals) and compiled as CPU clones (x86-64-v4 / -v3 / baseline,
/// kernels/cpu_clones.hpp). The ring's 16-bit phases spend ~20 % of the
/// communication thread's CPU in these loops (results/overlap/bf16).
struct Codec16 {
  void (*encode)(const float* src, uint16_t* dst, int64_t n);     ///< dst[i] = to_16(src[i])
  void (*widen)(const uint16_t* src, float* dst, int64_t n);      ///< dst[i] = from_16(src[i])
  void (*widen_add)(const uint16_t* src, float* dst, int64_t n);  ///< dst[i] += from_16(src[i])
  /// dst[i] = round_16(dst[i] + from_16(src[i])): the last hop of a
  /// reduce-scatter and the owner's rounding in one pass.
  void (*widen_add_round)(const uint16_t* src, float* dst, int64_t n);
  void (*round)(float* data, int64_t n);  ///< data[i] = round_16(data[i])
};

/// bf16's and fp16's loops for the clone `isa` (the CPU must have it:
/// kernels::cpu_clones::cpu_has); by default the best this CPU runs.
const Codec16& bf16_codec(kernels::cpu_clones::Isa isa = kernels::cpu_clones::best_isa());
const Codec16& fp16_codec(kernels::cpu_clones::Isa isa = kernels::cpu_clones::best_isa());

}  // namespace hpcnn::comm
