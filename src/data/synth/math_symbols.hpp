// Handwritten-looking mathematical symbols for the math-character tool (seed
// 001, issue 31): + - \times \div = ( ) . x y drawn as pen strokes.
//
// No handwritten operator set is installable here, so these are generated the
// way the circuits symbols are: each symbol is a few strokes in a canonical
// frame whose unit is the height of a digit (so a minus sign is shorter than
// a digit and a pen is thick relative to a dot), varied per sample by size,
// pen width, slant, rotation, aspect, vertex jitter and a smooth elastic warp,
// rasterised at 4x resolution and then framed exactly as MNIST digits are
// (frame_like_mnist): the longer side of the ink's box scaled to 20 of 28
// pixels, the intensity centre of mass at the centre. The digits 0-9 are not
// generated: they come from real handwritten sets (generate.cpp). The variable
// x is drawn as two back-to-back curves and \times as a straight cross, the
// usual way to tell them apart by hand.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hpcnn::data::synth {

/// Classes 0..9 are the digits; kFirstMathSymbol.. the generated symbols.
inline constexpr int kMathClasses = 20;
inline constexpr int kFirstMathSymbol = 10;
inline constexpr int kMathImageSize = 28;
/// The class names are the LaTeX of each symbol: "0".."9", "+", "-",
/// "\times", "\div", "=", "(", ")", ".", "x", "y".
const std::vector<std::string>& math_class_names();

/// Draws generated class `cls` (kFirstMathSymbol..kMathClasses-1) with the
/// variation drawn from `key`, MNIST-framed, into dst (28*28 bytes).
void draw_math_symbol(int cls, uint64_t key, std::span<uint8_t> dst);

/// MNIST's framing of an ink image (bright ink in [0, 1] on 0, width x height):
/// the box of pixels >= 0.05 scaled (aspect kept) so its longer side spans
/// 20 pixels, placed so the centre of mass sits at (14, 14), area-resampled
/// into dst (28*28 bytes, 0..255). A blank image gives a blank frame.
void frame_like_mnist(std::span<const float> ink, int width, int height, std::span<uint8_t> dst);

/// An elastic distortion of a 28x28 digit (Simard et al. 2003, the classic
/// lever for MNIST with little data): a random displacement field per axis,
/// uniform in [-1, 1] per pixel, smoothed by a Gaussian of kElasticSigma
/// pixels and scaled by kElasticAlpha, plus a small random shear; the image is
/// resampled bilinearly at the displaced positions and framed again like MNIST.
/// Deterministic in `key`. src and dst: 28*28 bytes (may not alias).
void elastic_digit(std::span<const uint8_t> src, uint64_t key, std::span<uint8_t> dst);
inline constexpr double kElasticAlpha = 34.0;
inline constexpr double kElasticSigma = 4.0;

}  // namespace hpcnn::data::synth
