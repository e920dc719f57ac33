// Math symbol strokes, their variation, and MNIST framing (see math_symbols.hpp).
#include "data/synth/math_symbols.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "data/synth/strokes.hpp"

namespace hpcnn::data::synth {

const std::vector<std::string>& math_class_names() {
  static const std::vector<std::string> names{"0", "1", "2",       "3",     "4", "5", "6", "7", "8", "9",
                                              "+", "-", "\\times", "\\div", "=", "(", ")", ".", "x", "y"};
  return names;
}

namespace {
constexpr double kPi = std::numbers::pi;

void arc(Stroke& s, double cx, double cy, double rx, double ry, double a0, double a1, int steps) {
  for (int i = 0; i <= steps; ++i) {
    const double a = a0 + (a1 - a0) * i / steps;
    s.push_back({cx + rx * std::cos(a), cy + ry * std::sin(a)});
  }
}

/// A straight bar from a to b, subdivided so the elastic warp can bend it.
Stroke bar(Point a, Point b) {
  Stroke s;
  for (int i = 0; i <= 8; ++i) s.push_back({a.x + (b.x - a.x) * i / 8, a.y + (b.y - a.y) * i / 8});
  return s;
}

/// A dot: a tiny circle (radius r, 0 for a single touch of the pen).
Stroke dot(Point c, double r) {
  if (r <= 0.0) return {c};
  Stroke s;
  arc(s, c.x, c.y, r, r, 0.0, 2 * kPi, 10);
  return s;
}

/// The strokes of generated class `cls`, in digit-height units (y down, centre near 0);
/// `pen` is the pen's width, so the bars of = and the dots of \div stay apart.
std::vector<Stroke> strokes_of(int cls, double pen, Rng& rng) {
  const std::string& name = math_class_names()[static_cast<size_t>(cls)];
  const auto wobble = [&rng](double amount) { return rng.uniform(-amount, amount); };
  if (name == "+") {
    const double a = rng.uniform(0.45, 0.85);
    const double cx = wobble(0.08) * a, cy = wobble(0.08) * a;
    return {bar({-a / 2, cy + wobble(0.03)}, {a / 2, cy + wobble(0.03)}),
            bar({cx + wobble(0.03), -a / 2 * rng.uniform(0.85, 1.15)}, {cx + wobble(0.03), a / 2})};
  }
  if (name == "-") {
    const double a = rng.uniform(0.35, 0.9);
    return {bar({-a / 2, wobble(0.03)}, {a / 2, wobble(0.03)})};
  }
  if (name == "\\times") {
    const double a = rng.uniform(0.4, 0.75), b = a * rng.uniform(0.8, 1.2);
    return {bar({-a / 2, -b / 2}, {a / 2 + wobble(0.04), b / 2 + wobble(0.04)}),
            bar({a / 2 + wobble(0.04), -b / 2 + wobble(0.04)}, {-a / 2, b / 2})};
  }
  if (name == "\\div") {
    const double a = rng.uniform(0.4, 0.85), r = rng.uniform(0.0, 0.04);
    const double g = std::max(rng.uniform(0.16, 0.32), 1.6 * pen + r);
    return {bar({-a / 2, wobble(0.02)}, {a / 2, wobble(0.02)}), dot({wobble(0.06), -g}, r), dot({wobble(0.06), g}, r)};
  }
  if (name == "=") {
    const double a = rng.uniform(0.4, 0.9), g = std::max(rng.uniform(0.12, 0.3), 1.8 * pen);
    const double b = a * rng.uniform(0.8, 1.1), shift = wobble(0.1) * a;
    return {bar({-a / 2, -g / 2 + wobble(0.02)}, {a / 2, -g / 2 + wobble(0.02)}),
            bar({-b / 2 + shift, g / 2 + wobble(0.02)}, {b / 2 + shift, g / 2 + wobble(0.02)})};
  }
  if (name == "(" || name == ")") {
    const double h = rng.uniform(0.8, 1.25), span = rng.uniform(0.35, 0.75) * kPi;  // angle the arc covers
    const double r = h / (2.0 * std::sin(span / 2.0));
    Stroke s;
    arc(s, r, 0.0, r * rng.uniform(0.8, 1.1), r, kPi - span / 2, kPi + span / 2, 16);
    if (name == ")") {
      for (Point& p : s) p.x = -p.x;
    }
    return {s};
  }
  if (name == ".") return {dot({0.0, 0.0}, rng.uniform(0.0, 0.05))};
  if (name == "x") {
    // Two back-to-back curves, ")(", touching in the middle.
    const double h = rng.uniform(0.45, 0.75), w = h * rng.uniform(0.35, 0.55), gap = wobble(0.03);
    Stroke left, right;
    arc(left, -w, 0.0, w, h / 2, -kPi / 2, kPi / 2, 12);   // ")" bulging right
    arc(right, w, 0.0, w, h / 2, 1.5 * kPi, kPi / 2, 12);  // "(" bulging left
    for (Point& p : left) p.x -= gap;
    for (Point& p : right) p.x += gap;
    return {left, right};
  }
  // y: a short arm down to the middle, a long arm from the top right down to a descender.
  const double h = rng.uniform(0.7, 1.05), w = h * rng.uniform(0.45, 0.7);
  Stroke long_arm = bar({w / 2, -h / 2}, {-w / 6, h / 2});
  if (rng.bernoulli(0.5)) {  // a hook at the end of the descender
    long_arm.push_back({-w / 6 - w * 0.25, h / 2 - h * 0.08});
  }
  if (rng.bernoulli(0.4)) {  // the "u" form: a rounded left arm meeting the long one
    Stroke u;
    arc(u, w / 4, -h / 2 + h * 0.1, w / 4 + 0.02, h * 0.35, kPi, kPi / 2 - 0.3, 10);
    u.insert(u.begin(), {-w / 2 + 0.02, -h / 2});
    return {u, long_arm};
  }
  return {bar({-w / 2, -h / 2}, {w / 12 + wobble(0.04), 0.02}), long_arm};
}

/// Area weights of one axis: source pixel p in [begin, end) covers output
/// [offset + (p - begin) * scale, + scale); per output index, (p, overlap).
std::vector<std::vector<std::pair<int, double>>> axis_weights(int begin, int end, double offset, double scale,
                                                              int out_size) {
  std::vector<std::vector<std::pair<int, double>>> w(static_cast<size_t>(out_size));
  for (int p = begin; p < end; ++p) {
    const double lo = offset + (p - begin) * scale, hi = lo + scale;
    const int first = std::max(0, static_cast<int>(std::floor(lo)));
    const int last = std::min(out_size, static_cast<int>(std::ceil(hi)));
    for (int i = first; i < last; ++i) {
      const double overlap = std::min(hi, i + 1.0) - std::max(lo, static_cast<double>(i));
      if (overlap > 0.0) w[static_cast<size_t>(i)].emplace_back(p, overlap);
    }
  }
  return w;
}
}  // namespace

void frame_like_mnist(std::span<const float> ink, int width, int height, std::span<uint8_t> dst) {
  constexpr int n = kMathImageSize;
  HPCNN_CHECK(static_cast<int64_t>(ink.size()) == int64_t{width} * height && dst.size() == size_t{n * n},
              "frame_like_mnist: bad sizes");
  std::fill(dst.begin(), dst.end(), uint8_t{0});
  int x0 = width, y0 = height, x1 = 0, y1 = 0;
  double mass = 0.0, mx = 0.0, my = 0.0;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const float v = ink[static_cast<size_t>(y * width + x)];
      if (v < 0.05f) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x + 1);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y + 1);
    }
  }
  if (x1 <= x0) return;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      const double v = ink[static_cast<size_t>(y * width + x)];
      mass += v;
      mx += v * (x - x0 + 0.5);
      my += v * (y - y0 + 0.5);
    }
  }
  const double s = 20.0 / std::max(x1 - x0, y1 - y0);
  const auto wx = axis_weights(x0, x1, n / 2.0 - mx / mass * s, s, n);
  const auto wy = axis_weights(y0, y1, n / 2.0 - my / mass * s, s, n);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < n; ++i) {
      double sum = 0.0;
      for (const auto& [q, weight_y] : wy[static_cast<size_t>(j)]) {
        for (const auto& [p, weight_x] : wx[static_cast<size_t>(i)]) {
          sum += weight_x * weight_y * ink[static_cast<size_t>(q * width + p)];
        }
      }
      dst[static_cast<size_t>(j * n + i)] = static_cast<uint8_t>(std::clamp(std::lround(255.0 * sum), 0L, 255L));
    }
  }
}

void draw_math_symbol(int cls, uint64_t key, std::span<uint8_t> dst) {
  HPCNN_CHECK(cls >= kFirstMathSymbol && cls < kMathClasses, "draw_math_symbol: class ", cls, " is not generated");
  Rng rng(key);
  const double pen = rng.uniform(0.06, 0.16);  // pen width, in digit heights
  std::vector<Stroke> strokes = strokes_of(cls, pen, rng);
  const double slant = rng.uniform(-0.3, 0.3), angle = rng.uniform(-0.12, 0.12);
  const double aspect = rng.uniform(0.85, 1.15);
  const double jitter = rng.uniform(0.0, 0.012);
  // Elastic warp: a smooth displacement field, two random plane waves per axis.
  struct Wave {
    double amp, fx, fy, phase;
  };
  Wave waves[4];
  for (Wave& w : waves) {
    w = {rng.uniform(0.0, 0.025), rng.uniform(-6.0, 6.0), rng.uniform(-6.0, 6.0), rng.uniform(0.0, 2 * kPi)};
  }
  const double c = std::cos(angle), s = std::sin(angle);
  double bx0 = 1e9, by0 = 1e9, bx1 = -1e9, by1 = -1e9;
  for (Stroke& stroke : strokes) {
    for (Point& p : stroke) {
      double x = p.x * aspect + jitter * rng.normal(), y = p.y + jitter * rng.normal();
      x += slant * -y;  // a slant leans the top to the right
      const double wx = waves[0].amp * std::sin(waves[0].fx * x + waves[0].fy * y + waves[0].phase) +
                        waves[1].amp * std::sin(waves[1].fx * x + waves[1].fy * y + waves[1].phase);
      const double wy = waves[2].amp * std::sin(waves[2].fx * x + waves[2].fy * y + waves[2].phase) +
                        waves[3].amp * std::sin(waves[3].fx * x + waves[3].fy * y + waves[3].phase);
      x += wx;
      y += wy;
      p = {c * x - s * y, s * x + c * y};
      bx0 = std::min(bx0, p.x);
      bx1 = std::max(bx1, p.x);
      by0 = std::min(by0, p.y);
      by1 = std::max(by1, p.y);
    }
  }
  // Raster at 4x the frame: the longer side of the ink (pen included) spans 80 pixels.
  const double extent = std::max(bx1 - bx0, by1 - by0) + pen;
  const double scale = 80.0 / extent;
  const int size = 96;
  const double ox = size / 2.0 - scale * (bx0 + bx1) / 2.0, oy = size / 2.0 - scale * (by0 + by1) / 2.0;
  const double width = pen * scale;
  std::vector<float> ink(static_cast<size_t>(size * size), 0.0f);
  for (Stroke& stroke : strokes) {
    for (Point& p : stroke) p = {ox + scale * p.x, oy + scale * p.y};
    if (stroke.size() == 1) stroke.push_back(stroke.front());
    for (size_t k = 0; k + 1 < stroke.size(); ++k) draw_segment(stroke[k], stroke[k + 1], width, size, ink);
  }
  frame_like_mnist(ink, size, size, dst);
}

void elastic_digit(std::span<const uint8_t> src, uint64_t key, std::span<uint8_t> dst) {
  constexpr int n = kMathImageSize;
  constexpr size_t pixels = size_t{n} * n;
  HPCNN_CHECK(src.size() == pixels && dst.size() == pixels, "elastic_digit: 28x28 images expected");
  Rng rng(key);
  // Gaussian kernel, truncated at 3 sigma, normalised.
  constexpr int radius = static_cast<int>(3 * kElasticSigma);
  std::vector<double> kernel(2 * radius + 1);
  double ksum = 0.0;
  for (int k = -radius; k <= radius; ++k) {
    ksum += kernel[static_cast<size_t>(k + radius)] = std::exp(-0.5 * k * k / (kElasticSigma * kElasticSigma));
  }
  for (double& v : kernel) v /= ksum;
  const auto smooth = [&](std::vector<double>& field) {  // separable, zero outside
    std::vector<double> tmp(pixels, 0.0);
    for (int y = 0; y < n; ++y) {
      for (int x = 0; x < n; ++x) {
        double acc = 0.0;
        for (int k = -radius; k <= radius; ++k) {
          if (x + k >= 0 && x + k < n) acc += kernel[static_cast<size_t>(k + radius)] * field[y * n + x + k];
        }
        tmp[static_cast<size_t>(y * n + x)] = acc;
      }
    }
    for (int y = 0; y < n; ++y) {
      for (int x = 0; x < n; ++x) {
        double acc = 0.0;
        for (int k = -radius; k <= radius; ++k) {
          if (y + k >= 0 && y + k < n) acc += kernel[static_cast<size_t>(k + radius)] * tmp[(y + k) * n + x];
        }
        field[static_cast<size_t>(y * n + x)] = acc;
      }
    }
  };
  std::vector<double> dx(pixels), dy(pixels);
  for (double& v : dx) v = rng.uniform(-1.0, 1.0);
  for (double& v : dy) v = rng.uniform(-1.0, 1.0);
  smooth(dx);
  smooth(dy);
  const double shear = rng.uniform(-0.15, 0.15);
  const auto at = [&](int x, int y) -> double {
    return x < 0 || y < 0 || x >= n || y >= n ? 0.0 : src[static_cast<size_t>(y * n + x)] / 255.0;
  };
  std::vector<float> ink(pixels);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const size_t i = static_cast<size_t>(y * n + x);
      const double sx = x + kElasticAlpha * dx[i] + shear * (y - n / 2.0), sy = y + kElasticAlpha * dy[i];
      const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
      const double fx = sx - x0, fy = sy - y0;
      ink[i] = static_cast<float>((1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) +
                                  fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1)));
    }
  }
  frame_like_mnist(ink, n, n, dst);
}

}  // namespace hpcnn::data::synth
