// Circuit symbol strokes (drawn by strokes.hpp's rasteriser).
#include "data/synth/circuits.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/rng.hpp"
#include "data/synth/strokes.hpp"

namespace hpcnn::data::synth {

const std::vector<std::string>& symbol_names() {
  static const std::vector<std::string> names{"resistor", "capacitor", "inductor", "voltage-source"};
  return names;
}

namespace {

void arc(Stroke& s, double cx, double cy, double r, double a0, double a1, int steps) {
  for (int i = 0; i <= steps; ++i) {
    const double a = a0 + (a1 - a0) * i / steps;
    s.push_back({cx + r * std::cos(a), cy + r * std::sin(a)});
  }
}

std::vector<Stroke> resistor(Rng& rng) {
  const double half = rng.uniform(0.4, 0.6);
  const double amp = rng.uniform(0.14, 0.28);
  std::vector<Stroke> out;
  if (rng.bernoulli(0.6)) {  // US zigzag
    const int peaks = 3 + static_cast<int>(rng.uniform_index(4));
    Stroke s{{-1, 0}, {-half, 0}};
    for (int i = 0; i < 2 * peaks; ++i) {
      const double x = -half + (2 * half) * (i + 0.5) / (2 * peaks);
      s.push_back({x, (i % 2 == 0) ? amp : -amp});
    }
    s.push_back({half, 0});
    s.push_back({1, 0});
    out.push_back(s);
  } else {  // IEC box
    out.push_back({{-1, 0}, {-half, 0}});
    out.push_back({{-half, -amp}, {half, -amp}, {half, amp}, {-half, amp}, {-half, -amp}});
    out.push_back({{half, 0}, {1, 0}});
  }
  return out;
}

std::vector<Stroke> capacitor(Rng& rng) {
  const double gap = rng.uniform(0.08, 0.16);
  const double plate = rng.uniform(0.3, 0.5);
  std::vector<Stroke> out{{{-1, 0}, {-gap, 0}}, {{-gap, -plate}, {-gap, plate}}, {{gap, 0}, {1, 0}}};
  if (rng.bernoulli(0.3)) {  // polarised: curved second plate and a plus sign
    Stroke curve;
    arc(curve, gap + 0.6, 0, 0.6, std::numbers::pi * 0.8, std::numbers::pi * 1.2, 8);
    out.push_back(curve);
    out.push_back({{-gap - 0.35, plate * 0.6}, {-gap - 0.15, plate * 0.6}});
    out.push_back({{-gap - 0.25, plate * 0.6 - 0.1}, {-gap - 0.25, plate * 0.6 + 0.1}});
  } else {
    out.push_back({{gap, -plate}, {gap, plate}});
  }
  return out;
}

std::vector<Stroke> inductor(Rng& rng) {
  const int humps = 3 + static_cast<int>(rng.uniform_index(3));
  const double half = rng.uniform(0.45, 0.65);
  const double r = half / humps;
  Stroke s{{-1, 0}, {-half, 0}};
  for (int i = 0; i < humps; ++i) {
    arc(s, -half + r * (2 * i + 1), 0, r, std::numbers::pi, 0.0, 10);
  }
  s.push_back({1, 0});
  return {s};
}

std::vector<Stroke> voltage_source(Rng& rng) {
  const double r = rng.uniform(0.3, 0.45);
  Stroke circle;
  arc(circle, 0, 0, r, 0, 2 * std::numbers::pi, 28);
  std::vector<Stroke> out{{{-1, 0}, {-r, 0}}, {{r, 0}, {1, 0}}, circle};
  const double m = r * 0.45;
  if (rng.bernoulli(0.5)) {  // DC: + and - inside
    out.push_back({{-r * 0.5 - m * 0.5, 0}, {-r * 0.5 + m * 0.5, 0}});
    out.push_back({{-r * 0.5, -m * 0.5}, {-r * 0.5, m * 0.5}});
    out.push_back({{r * 0.5 - m * 0.5, 0}, {r * 0.5 + m * 0.5, 0}});
  } else {  // AC: one sine period
    Stroke sine;
    for (int i = 0; i <= 16; ++i) {
      const double u = -1.0 + 2.0 * i / 16;
      sine.push_back({u * r * 0.6, 0.4 * r * std::sin(std::numbers::pi * u)});
    }
    out.push_back(sine);
  }
  return out;
}
}  // namespace

void draw_symbol(Symbol symbol, uint64_t key, const CircuitStyle& style, std::span<uint8_t> dst) {
  Rng rng(key);
  std::vector<Stroke> strokes;
  switch (symbol) {
    case Symbol::kResistor: strokes = resistor(rng); break;
    case Symbol::kCapacitor: strokes = capacitor(rng); break;
    case Symbol::kInductor: strokes = inductor(rng); break;
    case Symbol::kVoltageSource: strokes = voltage_source(rng); break;
  }
  const double size = style.image_size;
  const double scale = rng.uniform(0.55, 0.92) * size / 2.0;  // canonical unit -> pixels
  const double angle = std::numbers::pi / 2 * static_cast<double>(rng.uniform_index(4)) + rng.uniform(-0.26, 0.26);
  const double shift_x = rng.uniform(-0.1, 0.1) * size, shift_y = rng.uniform(-0.1, 0.1) * size;
  const double width = rng.uniform(1.0, 3.0);
  const double jitter = rng.uniform(0.0, 0.03);
  const double noise = rng.uniform(0.0, style.max_noise);
  const double c = std::cos(angle), s = std::sin(angle);
  const double centre = size / 2.0;

  std::vector<float> ink(dst.size(), 0.0f);
  for (Stroke& stroke : strokes) {
    for (Point& p : stroke) {
      const double x = p.x + jitter * rng.normal(), y = p.y + jitter * rng.normal();
      p = {centre + shift_x + scale * (c * x - s * y), centre + shift_y + scale * (s * x + c * y)};
    }
    for (size_t k = 0; k + 1 < stroke.size(); ++k) draw_segment(stroke[k], stroke[k + 1], width, style.image_size, ink);
  }
  for (size_t i = 0; i < dst.size(); ++i) {
    const double v = 255.0 * ink[i] + noise * rng.normal();
    dst[i] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
  }
}

}  // namespace hpcnn::data::synth
