// Pen strokes as polylines and their anti-aliased rasteriser: the drawing
// shared by the circuits and math-symbols generators (circuits.hpp,
// math_symbols.hpp), so both draw a stroke the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace hpcnn::data::synth {

struct Point {
  double x, y;
};
using Stroke = std::vector<Point>;  // a polyline; one point is a dot

/// Distance from p to segment ab (a == b: to the point).
inline double segment_distance(Point p, Point a, Point b) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double ex = a.x + t * dx - p.x, ey = a.y + t * dy - p.y;
  return std::sqrt(ex * ex + ey * ey);
}

/// Draws the segment ab, `width` pixels wide with a one-pixel anti-aliased
/// edge, into `ink` (size x size, row-major, values in [0, 1], kept as the
/// maximum of what is there and the segment's coverage).
inline void draw_segment(Point a, Point b, double width, int size, std::vector<float>& ink) {
  const double reach = width / 2 + 1;
  const int x0 = std::max(0, static_cast<int>(std::floor(std::min(a.x, b.x) - reach)));
  const int x1 = std::min(size - 1, static_cast<int>(std::ceil(std::max(a.x, b.x) + reach)));
  const int y0 = std::max(0, static_cast<int>(std::floor(std::min(a.y, b.y) - reach)));
  const int y1 = std::min(size - 1, static_cast<int>(std::ceil(std::max(a.y, b.y) + reach)));
  for (int py = y0; py <= y1; ++py) {
    for (int px = x0; px <= x1; ++px) {
      const double d = segment_distance({px + 0.5, py + 0.5}, a, b);
      const double v = std::clamp(width / 2 + 0.5 - d, 0.0, 1.0);
      float& cell = ink[static_cast<size_t>(py * size + px)];
      cell = std::max(cell, static_cast<float>(v));
    }
  }
}

}  // namespace hpcnn::data::synth
