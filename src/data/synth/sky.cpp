// Cloud layout: Poisson arrivals upwind of the field, crossing it with the
// current wind regime (speed 0.01..0.04 field/s, so a 10 s horizon moves a
// shadow 0.1..0.4 of the field: what the sensors see now predicts later).
#include "data/synth/sky.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/rng.hpp"

namespace hpcnn::data::synth {

namespace {
constexpr double kRegimeSeconds = 1800.0;
constexpr double kMeanArrivalSeconds = 15.0;
}  // namespace

SkyModel::SkyModel(uint64_t seed, double duration_s, double wind_spread_deg, double prevailing_rad) : seed_(seed) {
  Rng rng(derive_key({seed, 0x534B59ULL /* "SKY" */}));
  const int regimes = static_cast<int>(duration_s / kRegimeSeconds) + 2;
  std::vector<double> angle(static_cast<size_t>(regimes)), speed(static_cast<size_t>(regimes));
  for (int r = 0; r < regimes; ++r) {
    const double u = rng.uniform();  // one draw either way: the rest of the sky is the same
    angle[static_cast<size_t>(r)] = wind_spread_deg >= 180.0
                                        ? 2.0 * std::numbers::pi * u
                                        : prevailing_rad + (2.0 * u - 1.0) * wind_spread_deg * std::numbers::pi / 180.0;
    speed[static_cast<size_t>(r)] = rng.uniform(0.01, 0.04);
  }
  // Start early enough that the field is already cloudy at t = 0.
  double t = -300.0;
  while (t < duration_s) {
    t += -kMeanArrivalSeconds * std::log(1.0 - rng.uniform());
    const auto r = static_cast<size_t>(
        std::clamp(std::floor(std::max(t, 0.0) / kRegimeSeconds), 0.0, static_cast<double>(regimes - 1)));
    const double a = angle[r] + rng.uniform(-0.15, 0.15);
    const double v = speed[r] * rng.uniform(0.9, 1.1);
    const double dx = std::cos(a), dy = std::sin(a);
    Cloud c;
    c.radius = rng.uniform(0.05, 0.25);
    c.opacity = rng.uniform(0.3, 0.85);
    c.vx = v * dx;
    c.vy = v * dy;
    // Enter from upwind, at a random offset across the wind.
    const double across = rng.uniform(-0.8, 0.8);
    const double back = 0.75 + c.radius;
    c.x0 = 0.5 - dx * back - dy * across;
    c.y0 = 0.5 - dy * back + dx * across;
    c.t0 = t;
    c.t_end = t + 2.0 * back / v;
    max_lifetime_ = std::max(max_lifetime_, c.t_end - c.t0);
    clouds_.push_back(c);
  }
}

double SkyModel::irradiance(double x, double y, double t) const {
  const double clear = 0.9 + 0.08 * std::sin(2.0 * std::numbers::pi * t / 3600.0);
  double transmitted = 1.0;
  // Clouds alive at t started in (t - max_lifetime, t].
  auto first = std::lower_bound(clouds_.begin(), clouds_.end(), t - max_lifetime_,
                                [](const Cloud& c, double v) { return c.t0 < v; });
  for (auto it = first; it != clouds_.end() && it->t0 <= t; ++it) {
    if (t >= it->t_end) continue;
    const double cx = it->x0 + it->vx * (t - it->t0);
    const double cy = it->y0 + it->vy * (t - it->t0);
    const double q2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (it->radius * it->radius);
    if (q2 < 9.0) transmitted *= 1.0 - it->opacity * std::exp(-q2);
  }
  return clear * transmitted;
}

double SkyModel::reading(double x, double y, double t, uint64_t sensor) const {
  Rng noise(
      derive_key({seed_, 0x4E4F495345ULL /* "NOISE" */, sensor, static_cast<uint64_t>(std::llround(t * 1000.0))}));
  return irradiance(x, y, t) + 0.005 * noise.normal();
}

}  // namespace hpcnn::data::synth
