// Checked integer arithmetic for sizes that come from untrusted text.
//
// Model strings, manifests and checkpoints name sizes that are multiplied into
// element counts; a product that wraps around gives a small, wrong count and a
// buffer overrun later. These helpers throw hpcnn::Error naming what was being
// computed instead, and bound the result by a limit the caller documents
// (docs/formats.md lists them).
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

#include "core/error.hpp"

namespace hpcnn {

/// The largest element count of one tensor or of a parameter buffer: what a
/// 32-bit index (oneDNN dims, BLAS lengths, MPI counts) can still address.
inline constexpr int64_t kMaxElements = std::numeric_limits<int32_t>::max();

/// a * b for non-negative a, b; throws naming `what` when it exceeds `limit`.
inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what,
                           int64_t limit = std::numeric_limits<int64_t>::max()) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out) || out > limit) {
    HPCNN_THROW(what, ": ", a, " x ", b, " is too large (limit ", limit, ")");
  }
  return out;
}

/// a + b for non-negative a, b; throws naming `what` when it exceeds `limit`.
inline int64_t checked_add(int64_t a, int64_t b, std::string_view what,
                           int64_t limit = std::numeric_limits<int64_t>::max()) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &out) || out > limit) {
    HPCNN_THROW(what, ": ", a, " + ", b, " is too large (limit ", limit, ")");
  }
  return out;
}

}  // namespace hpcnn
