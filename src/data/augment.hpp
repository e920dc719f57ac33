// Augmentation when data is loaded: every training sample of every epoch is
// transformed afresh (a small rotation, scale, shift, a stroke-width-like grey
// dilation or erosion, and pixel noise), keyed by (seed, epoch, global sample
// index) only. The same key gives the same image on any rank count, shard
// layout, sampling mode or --prefetch depth, so augmented runs stay
// bit-reproducible and a resumed run sees the images the uninterrupted run
// saw. Evaluation data is never augmented.
//
// Per sample, in this order, from one counter-based stream:
//   1. one affine map about the image centre: rotation by a ~ U(-rotate, rotate)
//      degrees, scale by s ~ U(1 - scale, 1 + scale), shift by (dx, dy) ~
//      U(-shift, shift) x (W, H); sampled backwards (each output pixel reads
//      the input at the inverse map) with bilinear interpolation, and edge
//      pixels repeated outside the image (backgrounds stay background);
//   2. with probability `stroke`, a 3x3 grey dilation (max) or erosion (min),
//      half each, blended with the image by a strength ~ U(0, 1): bright
//      strokes get thicker or thinner (a full erosion would erase the
//      thinnest strokes);
//   3. Gaussian noise of standard deviation `noise` (in input units: 8-bit
//      data is in [0, 1] at the model's input) added to every element.
// 8-bit datasets are clamped back to [0, 1]; float datasets are not clamped.
// A parameter of 0 turns its step off (and draws nothing for it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.hpp"

namespace hpcnn::data {

struct AugmentSpec {
  double rotate_deg = 0.0;  ///< rotation range, degrees, in [0, 180]
  double scale = 0.0;       ///< relative scale range, in [0, 0.9]
  double shift = 0.0;       ///< shift range as a fraction of the side, in [0, 1]
  double stroke = 0.0;      ///< probability of a dilation or erosion, in [0, 1]
  double noise = 0.0;       ///< noise standard deviation, input units, in [0, 10]

  /// The values `--augment on` sets.
  static AugmentSpec defaults();
  bool enabled() const { return rotate_deg > 0 || scale > 0 || shift > 0 || stroke > 0 || noise > 0; }
  /// "rotate=10,scale=0.1,shift=0.1,stroke=0.3,noise=0.02", or "off".
  std::string to_string() const;
  bool operator==(const AugmentSpec&) const = default;
};

/// Parses `--augment`: "off" (or ""), "on" (the defaults), or a comma list of
/// key=value (keys: rotate, scale, shift, stroke, noise), read left to right
/// from all-off, where "on" may come first: "on,noise=0" is the defaults
/// without noise; "rotate=15" rotates only. Throws UsageError naming the bad
/// token or value.
AugmentSpec parse_augment(std::string_view text);

class Augmenter {
 public:
  /// Images of shape (channels, height, width); `unit_range` clamps results
  /// to [0, 1] (8-bit data scaled at load).
  Augmenter(AugmentSpec spec, uint64_t seed, int64_t channels, int64_t height, int64_t width, bool unit_range);
  /// For the samples of `dataset`: its shape, clamped when it is 8-bit.
  /// Throws UsageError when its samples are not images (height or width < 3).
  Augmenter(AugmentSpec spec, uint64_t seed, const Manifest& dataset);

  const AugmentSpec& spec() const { return spec_; }
  /// Transforms every sample of `batch` in place, each keyed by (seed, epoch,
  /// batch.indices[i]). Safe to call from any thread (no shared state).
  void apply(Batch& batch, int64_t epoch) const;
  /// Transforms one image in place; `scratch` is resized as needed.
  void apply_one(float* image, int64_t epoch, int64_t index, std::vector<float>& scratch) const;

 private:
  AugmentSpec spec_;
  uint64_t seed_;
  int64_t c_, h_, w_;
  bool unit_range_;
};

}  // namespace hpcnn::data
