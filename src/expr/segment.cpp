// Connected components, merge rules and crops (see segment.hpp).
#include "expr/segment.hpp"

#include <algorithm>
#include <numeric>

#include "core/check.hpp"
#include "core/median.hpp"

namespace hpcnn::expr {

namespace {
struct Component {
  Box box;
  std::vector<int64_t> pixels;  ///< indices into the picture
};

int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1) { return std::min(a1, b1) - std::max(a0, b0); }

/// The merge rules of segment.hpp for two boxes.
bool same_symbol(const Box& a, const Box& b) {
  const int64_t ox = overlap(a.x0, a.x1, b.x0, b.x1);
  if (ox <= 0) return false;
  const int64_t narrower = std::min(a.width(), b.width());
  const bool stacked = 2 * ox >= narrower && overlap(a.y0, a.y1, b.y0, b.y1) <= 0;
  const bool nested = 10 * ox >= 8 * narrower;
  return stacked || nested;
}

Box unite(const Box& a, const Box& b) {
  return {std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1), std::max(a.y1, b.y1)};
}
}  // namespace

Segmentation segment(const Image& picture) {
  const int64_t w = picture.width, h = picture.height;
  HPCNN_CHECK(w > 0 && h > 0 && static_cast<int64_t>(picture.pixels.size()) == w * h, "segment: ", w, "x", h,
              " picture with ", picture.pixels.size(), " pixels");
  Segmentation out;
  // Polarity: the mean of the outermost ring, as serve::preprocess decides it.
  double border = 0.0;
  int64_t border_count = 0;
  for (int64_t x = 0; x < w; ++x) {
    border += picture.at(x, 0) + (h > 1 ? picture.at(x, h - 1) : 0);
    border_count += h > 1 ? 2 : 1;
  }
  for (int64_t y = 1; y + 1 < h; ++y) {
    border += picture.at(0, y) + (w > 1 ? picture.at(w - 1, y) : 0);
    border_count += w > 1 ? 2 : 1;
  }
  out.inverted = border / static_cast<double>(border_count) > 127.5;
  std::vector<uint8_t> ink(picture.pixels);
  if (out.inverted) {
    for (uint8_t& v : ink) v = static_cast<uint8_t>(255 - v);
  }

  // 8-connected components by flood fill (an explicit stack: no recursion depth).
  std::vector<int32_t> label(ink.size(), -1);
  std::vector<Component> components;
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < w * h; ++start) {
    if (ink[static_cast<size_t>(start)] < kInkThreshold || label[static_cast<size_t>(start)] >= 0) continue;
    Component c;
    c.box = {start % w, start / w, start % w + 1, start / w + 1};
    const auto id = static_cast<int32_t>(components.size());
    label[static_cast<size_t>(start)] = id;
    stack.assign(1, start);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      c.pixels.push_back(p);
      const int64_t px = p % w, py = p / w;
      c.box = unite(c.box, {px, py, px + 1, py + 1});
      for (int64_t dy = -1; dy <= 1; ++dy) {
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t qx = px + dx, qy = py + dy;
          if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
          const int64_t q = qy * w + qx;
          if (ink[static_cast<size_t>(q)] < kInkThreshold || label[static_cast<size_t>(q)] >= 0) continue;
          label[static_cast<size_t>(q)] = id;
          stack.push_back(q);
        }
      }
    }
    if (static_cast<int64_t>(c.pixels.size()) >= kMinComponentPixels) components.push_back(std::move(c));
  }

  // Merge until no two groups belong together (a handful of components: quadratic is fine).
  std::vector<std::vector<size_t>> groups(components.size());
  std::vector<Box> boxes(components.size());
  for (size_t i = 0; i < components.size(); ++i) {
    groups[i] = {i};
    boxes[i] = components[i].box;
  }
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t i = 0; i < groups.size() && !merged; ++i) {
      for (size_t j = i + 1; j < groups.size() && !merged; ++j) {
        if (!same_symbol(boxes[i], boxes[j])) continue;
        boxes[i] = unite(boxes[i], boxes[j]);
        groups[i].insert(groups[i].end(), groups[j].begin(), groups[j].end());
        groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(j));
        boxes.erase(boxes.begin() + static_cast<std::ptrdiff_t>(j));
        merged = true;
      }
    }
  }

  // Flecks: lone components much smaller than the line, away from its baseline.
  std::vector<bool> point_sized(groups.size(), false);
  std::vector<int64_t> tops, bottoms;
  int64_t tallest = 0;
  for (const Component& c : components) tallest = std::max(tallest, c.box.height());
  for (const Component& c : components) {
    if (3 * c.box.height() < tallest) continue;
    tops.push_back(c.box.y0);
    bottoms.push_back(c.box.y1);
  }
  if (!tops.empty()) {
    const auto top = static_cast<double>(upper_median_in_place(tops));
    const auto bottom = static_cast<double>(upper_median_in_place(bottoms)), line = bottom - top;
    // Detached stroke ends (segment.hpp): a small upright part abutting a
    // full-height glyph, at its top left (a 7's or 1's serif) or its bottom
    // right (a tail), joins it.
    for (bool joined = true; joined;) {
      joined = false;
      for (size_t g = 0; g < groups.size() && !joined; ++g) {
        const Box& a = boxes[g];
        const auto side = static_cast<double>(std::max(a.width(), a.height()));
        if (groups[g].size() != 1 || side < kPointFraction * line || side >= kStrokeEndFraction * line ||
            a.width() >= a.height()) {
          continue;
        }
        for (size_t n = 0; n < groups.size(); ++n) {
          const Box& b = boxes[n];
          if (n == g || static_cast<double>(b.height()) < kStrokeEndFraction * line ||
              overlap(a.y0, a.y1, b.y0, b.y1) <= 0) {
            continue;
          }
          // Beside it: the part's centre outside the glyph's box, its near edge within the gap.
          const bool serif = a.centre_x() < static_cast<double>(b.x0) &&
                             static_cast<double>(b.x0 - a.x1) <= kStrokeEndGap * line && a.centre_y() < b.centre_y();
          const bool tail = a.centre_x() > static_cast<double>(b.x1) &&
                            static_cast<double>(a.x0 - b.x1) <= kStrokeEndGap * line && a.centre_y() > b.centre_y();
          if (!serif && !tail) continue;
          boxes[n] = unite(boxes[n], boxes[g]);
          groups[n].insert(groups[n].end(), groups[g].begin(), groups[g].end());
          groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(g));
          boxes.erase(boxes.begin() + static_cast<std::ptrdiff_t>(g));
          joined = true;
          break;
        }
      }
    }
    point_sized.assign(groups.size(), false);
    for (size_t g = groups.size(); g-- > 0;) {
      const Box& b = boxes[g];
      const auto side = static_cast<double>(std::max(b.width(), b.height()));
      const bool on_baseline = b.centre_y() >= top + 0.75 * line;
      // A group made only of fleck-sized parts (a dotted trace beside a digit) is flecks too.
      bool all_flecks = groups[g].size() > 1;
      for (const size_t c : groups[g]) {
        const Box& p = components[c].box;
        all_flecks = all_flecks && static_cast<double>(std::max(p.width(), p.height())) < kPointFraction * line;
      }
      const bool lone_fleck =
          groups[g].size() == 1 && (side < kSpeckFraction * line || (side < kPointFraction * line && !on_baseline));
      if (groups[g].size() == 1 && side < kPointFraction * line) point_sized[g] = true;  // kept: on the baseline
      if (lone_fleck || all_flecks) {
        groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(g));
        boxes.erase(boxes.begin() + static_cast<std::ptrdiff_t>(g));
        point_sized.erase(point_sized.begin() + static_cast<std::ptrdiff_t>(g));
      }
    }
  }

  // Superscripts: the band of the glyphs of full height (see segment.hpp).
  double base_top = 0.0, base_bottom = 0.0;
  {
    int64_t tallest_group = 0;
    for (const Box& b : boxes) tallest_group = std::max(tallest_group, b.height());
    std::vector<int64_t> base_tops, base_bottoms;
    for (const Box& b : boxes) {
      if (static_cast<double>(b.height()) < kBaseFraction * static_cast<double>(tallest_group)) continue;
      base_tops.push_back(b.y0);
      base_bottoms.push_back(b.y1);
    }
    if (!base_tops.empty()) {
      std::sort(base_tops.begin(), base_tops.end());
      std::sort(base_bottoms.begin(), base_bottoms.end());
      base_top = static_cast<double>(base_tops[base_tops.size() / 2]);
      base_bottom = static_cast<double>(base_bottoms[base_bottoms.size() / 2]);
    }
  }
  const double base_height = base_bottom - base_top;

  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return boxes[a].centre_x() < boxes[b].centre_x(); });
  for (const size_t g : order) {
    Glyph glyph;
    glyph.box = boxes[g];
    glyph.parts = static_cast<int>(groups[g].size());
    glyph.point_sized = point_sized[g];
    glyph.raised = !glyph.point_sized && !out.glyphs.empty() && base_height > 0.0 &&
                   static_cast<double>(glyph.box.height()) <= kRaisedHeight * base_height &&
                   glyph.box.centre_y() <= base_top + kRaisedCentre * base_height &&
                   static_cast<double>(glyph.box.y1) <= base_top + (0.5 + kRaisedBottom) * base_height;
    glyph.crop.width = glyph.box.width() + 2 * kCropMargin;
    glyph.crop.height = glyph.box.height() + 2 * kCropMargin;
    glyph.crop.pixels.assign(static_cast<size_t>(glyph.crop.width * glyph.crop.height), 0);
    for (const size_t c : groups[g]) {
      for (const int64_t p : components[c].pixels) {
        const int64_t x = p % w - glyph.box.x0 + kCropMargin, y = p / w - glyph.box.y0 + kCropMargin;
        glyph.crop.pixels[static_cast<size_t>(y * glyph.crop.width + x)] = ink[static_cast<size_t>(p)];
      }
      glyph.ink += static_cast<int64_t>(components[c].pixels.size());
    }
    out.glyphs.push_back(std::move(glyph));
  }
  return out;
}

}  // namespace hpcnn::expr
