// A deterministic sky over a square sensor field: cloud shadows drifting with
// a wind that changes regime every half hour. Stands in for the thesis's
// irradiance measurements (50 sensors sampled each second), which are not public.
//
// Field coordinates are in [0, 1]^2, time in seconds, irradiance in kW/m^2.
// Every quantity is a pure function of (seed, x, y, t): samples can be made
// in any order, by any number of writers, and come out identical.
#pragma once

#include <cstdint>
#include <vector>

namespace hpcnn::data::synth {

struct Cloud {
  double t0 = 0, t_end = 0;  ///< alive in [t0, t_end)
  double x0 = 0, y0 = 0;     ///< position at t0
  double vx = 0, vy = 0;     ///< field units per second
  double radius = 0;         ///< field units
  double opacity = 0;        ///< fraction of light blocked at the centre
};

class SkyModel {
 public:
  /// Clouds are laid out for t in [0, duration_s]. Each half-hour wind regime
  /// blows towards a direction drawn uniformly (wind_spread_deg >= 180, the
  /// default) or within +-wind_spread_deg of `prevailing_rad` (radians from
  /// +x towards +y): with a prevailing wind the upwind sensors foretell a
  /// sensor's future, while with any direction a single snapshot cannot tell
  /// where the shadows are heading.
  SkyModel(uint64_t seed, double duration_s, double wind_spread_deg = 180.0, double prevailing_rad = 0.0);

  /// Irradiance without sensor noise.
  double irradiance(double x, double y, double t) const;
  /// A sensor reading: irradiance plus small Gaussian noise keyed by (sensor, t).
  double reading(double x, double y, double t, uint64_t sensor) const;
  const std::vector<Cloud>& clouds() const { return clouds_; }

 private:
  uint64_t seed_;
  double max_lifetime_ = 0;
  std::vector<Cloud> clouds_;  ///< sorted by t0
};

}  // namespace hpcnn::data::synth
