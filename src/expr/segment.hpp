// A handwritten expression on one line -> its glyphs, left to right.
//
// The ink is cut into 8-connected components (pixels of at least
// kInkThreshold after the same polarity rule serve::preprocess applies: a
// border brighter than mid-grey means dark ink on paper and is inverted).
// Specks (fewer than kMinComponentPixels pixels) are dropped. Components are
// then merged into one glyph when they belong to one symbol:
//
//   stacked  their horizontal extents overlap by at least half the narrower
//            one's width and they do not overlap vertically: the bars of =,
//            the bar and dots of \div, a dot over a stem, a digit's detached
//            top stroke (a 5's flag);
//   nested   one lies horizontally within the other (80% of the narrower
//            one's width): a 4 or a + drawn in strokes that do not touch.
//
// Detached stroke ends: a lone component that is taller than wide, at least
// kPointFraction (25%) and under kStrokeEndFraction (50%) of the line's height
// (below), that overlaps a glyph of at least half the line vertically, abuts
// its box horizontally (a gap of at most kStrokeEndGap, 5% of the line) and
// lies at its top left (the serif that starts a 7 or a 1) or at its bottom
// right (the tail that ends a 9) joins it. Separate glyphs stand further
// apart; a superscript sits at the top right of its base and a minus is
// flat, so neither joins. On 1,000 validation expressions (results/math) a 7
// whose serif was drawn apart read "1 7" or "9 7" 16 times and a 9 with a
// detached tail "9 1" 12 times: 28 of the 40 wrong glyph counts.
//
// After merging, small lone components are flecks of a stroke and dropped
// unless they can be a decimal point. The line is the band from the median top
// to the median bottom of the components at least a third as tall as the
// tallest; a lone component smaller on both sides than kSpeckFraction (10%)
// of the line's height is dropped wherever it is, and one smaller than
// kPointFraction (25%) unless its centre lies in the bottom quarter of the
// band, where a decimal point is written. A glyph merged from several
// components all smaller than kPointFraction of the line is dropped too: a
// dotted trace beside a digit (scanner dust in MNIST images) stacks into one
// tall group of flecks, which gave 12 extra glyphs on those 500 expressions.
// (On 500 expressions composed from
// MNIST test digits, flecks of 8-11 pixels beside 60-70 pixel digits gave 40
// extra glyphs; a size rule alone could not tell them from points.)
//
// Superscripts, by position: the baseline band is the median top to median
// bottom of the components at least kBaseFraction (80%) as tall as the
// tallest (so small raised glyphs do not pull it up: in 2^{10} it is the 2's);
// a glyph after the first whose box is at most kRaisedHeight (80%) of that
// band's height, whose centre lies in its top kRaisedCentre (40%) and whose
// bottom is above its middle plus kRaisedBottom (10%) is marked raised. A
// minus or a point stays on the line: their centres sit at the middle and at
// the bottom (the decoder also keeps operators on the line, latex.hpp).
//
// Glyphs are ordered by the centre of their boxes from left to right. Each
// glyph's crop holds only its own components' ink (a neighbour's stroke that
// reaches into the box is left out), bright on black with a black margin, so
// it can go through serve::preprocess like a single drawing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hpcnn::expr {

inline constexpr int kInkThreshold = 13;  ///< as serve::kInkThreshold
inline constexpr int64_t kMinComponentPixels = 3;
inline constexpr int kCropMargin = 2;
inline constexpr double kSpeckFraction = 0.1;
inline constexpr double kPointFraction = 0.25;
inline constexpr double kStrokeEndFraction = 0.5;
inline constexpr double kStrokeEndGap = 0.05;
inline constexpr double kBaseFraction = 0.8;
inline constexpr double kRaisedHeight = 0.8;
inline constexpr double kRaisedCentre = 0.4;
inline constexpr double kRaisedBottom = 0.1;

/// Row-major 8-bit grey pixels (0 = black).
struct Image {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
  uint8_t at(int64_t x, int64_t y) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

/// [x0, x1) x [y0, y1) in pixels of the picture.
struct Box {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int64_t width() const { return x1 - x0; }
  int64_t height() const { return y1 - y0; }
  double centre_x() const { return 0.5 * static_cast<double>(x0 + x1); }
  double centre_y() const { return 0.5 * static_cast<double>(y0 + y1); }
  bool operator==(const Box&) const = default;
};

struct Glyph {
  Box box;
  int parts = 1;        ///< connected components merged into it
  Image crop;           ///< its ink only, bright on black, kCropMargin black pixels around the box
  int64_t ink = 0;      ///< ink pixels
  bool raised = false;  ///< small and above the baseline band: a superscript (see above)
  /// A lone component kept only because it can be a decimal point (smaller
  /// than kPointFraction of the line, on the baseline): a point or nothing
  /// (expr::decode).
  bool point_sized = false;
};

struct Segmentation {
  std::vector<Glyph> glyphs;  ///< left to right
  bool inverted = false;      ///< the picture was dark ink on a light background
};

/// Segments `picture` (grey, either polarity). No ink gives no glyphs.
Segmentation segment(const Image& picture);

}  // namespace hpcnn::expr
