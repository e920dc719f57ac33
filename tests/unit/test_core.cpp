// Small helpers of src/core shared across the project.
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "core/median.hpp"

using hpcnn::upper_median;
using hpcnn::upper_median_in_place;

TEST_CASE("upper_median takes the element of rank size over 2 and never averages", "[core]") {
  CHECK(upper_median(std::vector<double>{3.0, 1.0, 2.0}) == 2.0);
  CHECK(upper_median(std::vector<double>{4.0, 1.0, 3.0, 2.0}) == 3.0);  // upper of 2 and 3, not 2.5
  CHECK(upper_median(std::vector<int64_t>{7}) == 7);
  CHECK(upper_median(std::vector<float>{}) == 0.0f);
  CHECK(upper_median(std::array<double, 5>{9, 8, 7, 6, 5}) == 7.0);
}

TEST_CASE("upper_median leaves its argument in order and the in-place one only reorders it", "[core]") {
  const std::vector<int> v{5, 1, 4, 2, 3};
  CHECK(upper_median(v) == 3);
  CHECK(v == std::vector<int>{5, 1, 4, 2, 3});
  std::vector<int> w = v;
  CHECK(upper_median_in_place(w) == 3);
  std::vector<int> sorted_w = w, sorted_v = v;
  std::sort(sorted_w.begin(), sorted_w.end());
  std::sort(sorted_v.begin(), sorted_v.end());
  CHECK(sorted_w == sorted_v);
}
