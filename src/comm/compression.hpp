// bf16 (bfloat16: FP32's sign, exponent and top 7 mantissa bits) for
// compressed gradient messages. Round to nearest, ties to even; NaN stays
// NaN (quiet); values beyond bf16's largest finite round to infinity, as
// IEEE rounding does.
#pragma once

#include <bit>
#include <cstdint>

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

}  // namespace hpcnn::comm
