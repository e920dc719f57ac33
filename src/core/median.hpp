// The median every timing table and estimate in hpcnn quotes: the element of
// rank size / 2 (the upper one of an even count, no averaging, so it is
// always a measured value), found by a partial sort.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>

namespace hpcnn {

/// The upper median of `values`, which it reorders (std::nth_element);
/// value_type{} when empty. Works on any random-access container.
template <class Container>
auto upper_median_in_place(Container& values) -> typename Container::value_type {
  if (values.empty()) return typename Container::value_type{};
  const auto mid = std::begin(values) + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(std::begin(values), mid, std::end(values));
  return *mid;
}

/// The same on a copy, leaving `values` in its order.
template <class Container>
auto upper_median(Container values) -> typename Container::value_type {
  return upper_median_in_place(values);
}

}  // namespace hpcnn
