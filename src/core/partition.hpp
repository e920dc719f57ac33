// Cutting n items into near-equal consecutive blocks: shards of a split,
// ranks' parts of an epoch, segments of an all-reduce message.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace hpcnn {

/// Block `i` of `parts` over [0, n): the first n % parts blocks get one more.
/// Requires 0 <= i < parts.
constexpr std::pair<int64_t, int64_t> block_range(int64_t n, int64_t i, int64_t parts) {
  const int64_t base = n / parts, extra = n % parts;
  const int64_t first = i * base + std::min<int64_t>(i, extra);
  return {first, first + base + (i < extra ? 1 : 0)};
}

}  // namespace hpcnn
