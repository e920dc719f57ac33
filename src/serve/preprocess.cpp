// Polarity, bounding box, framing and area resampling (see preprocess.hpp).
#include "serve/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "data/dataset.hpp"

namespace hpcnn::serve {

const char* framing_name(Framing framing) {
  for (const FramingName& f : kFramings) {
    if (f.framing == framing) return f.name;
  }
  HPCNN_THROW("unknown framing ", static_cast<int>(framing));
}

std::string framing_choices() {
  std::string out;
  for (const FramingName& f : kFramings) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

Framing parse_framing(const std::string& name) {
  for (const FramingName& f : kFramings) {
    if (name == f.name) return f.framing;
  }
  throw UsageError("unknown framing '" + name + "' (expected one of: " + framing_choices() + ")");
}

namespace {
/// One axis of the mapping from source pixels [begin, end) to output
/// coordinates: source pixel p covers [offset + (p - begin) * scale, ... + scale).
struct AxisMap {
  int64_t begin = 0, end = 0;
  double offset = 0.0, scale = 1.0;
};

/// For each output index, the source pixels it overlaps and by how much
/// (the overlap length, in output pixels: weights of a covered pixel sum to 1).
std::vector<std::vector<std::pair<int64_t, double>>> axis_weights(const AxisMap& a, int64_t out_size) {
  std::vector<std::vector<std::pair<int64_t, double>>> w(static_cast<size_t>(out_size));
  for (int64_t p = a.begin; p < a.end; ++p) {
    const double lo = a.offset + static_cast<double>(p - a.begin) * a.scale, hi = lo + a.scale;
    const auto first = std::max<int64_t>(0, static_cast<int64_t>(std::floor(lo)));
    const auto last = std::min<int64_t>(out_size, static_cast<int64_t>(std::ceil(hi)));
    for (int64_t i = first; i < last; ++i) {
      const double overlap = std::min(hi, static_cast<double>(i + 1)) - std::max(lo, static_cast<double>(i));
      if (overlap > 0.0) w[static_cast<size_t>(i)].emplace_back(p, overlap);
    }
  }
  return w;
}
}  // namespace

Preprocessed preprocess(const GreyImage& picture, Framing framing, int64_t height, int64_t width, double mnist_box) {
  const int64_t pw = picture.width, ph = picture.height;
  HPCNN_CHECK(pw > 0 && ph > 0 && static_cast<int64_t>(picture.pixels.size()) == pw * ph, "preprocess: ", pw, "x", ph,
              " picture with ", picture.pixels.size(), " pixels");
  HPCNN_CHECK(height > 0 && width > 0, "preprocess: bad input size ", height, "x", width);

  // 1. Polarity from the outermost ring of pixels.
  double border_sum = 0.0;
  int64_t border_count = 0;
  for (int64_t y = 0; y < ph; ++y) {
    for (int64_t x = 0; x < pw; ++x) {
      if (y != 0 && y != ph - 1 && x != 0 && x != pw - 1) {
        x = pw - 2;  // jump to the right edge of an inner row
        continue;
      }
      border_sum += picture.at(x, y);
      ++border_count;
    }
  }
  Preprocessed out;
  out.inverted = border_sum / static_cast<double>(border_count) > 127.5;
  std::vector<uint8_t> ink(picture.pixels);
  if (out.inverted) {
    for (uint8_t& v : ink) v = static_cast<uint8_t>(255 - v);
  }
  const auto ink_at = [&](int64_t x, int64_t y) { return ink[static_cast<size_t>(y * pw + x)]; };

  // 2. Bounding box of the ink.
  int64_t x0 = pw, y0 = ph, x1 = 0, y1 = 0;  // [x0, x1) x [y0, y1)
  for (int64_t y = 0; y < ph; ++y) {
    for (int64_t x = 0; x < pw; ++x) {
      if (ink_at(x, y) < kInkThreshold) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x + 1);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y + 1);
    }
  }
  if (x1 <= x0) {
    HPCNN_BAD_INPUT(422, "blank image: no pixel stands out from the background by ", kInkThreshold,
                    " or more (nothing drawn?)");
  }

  // 3. Framing: where the source pixels land in the input.
  AxisMap ax{x0, x1}, ay{y0, y1};
  const auto bw = static_cast<double>(x1 - x0), bh = static_cast<double>(y1 - y0);
  const auto w = static_cast<double>(width), h = static_cast<double>(height);
  switch (framing) {
    case Framing::kFill: {
      const double s = std::min(w / bw, h / bh);
      ax.scale = ay.scale = s;
      ax.offset = (w - bw * s) / 2.0;
      ay.offset = (h - bh * s) / 2.0;
      break;
    }
    case Framing::kMnist: {
      const double s = std::min(w * mnist_box / 28.0 / bw, h * mnist_box / 28.0 / bh);
      double mass = 0.0, mx = 0.0, my = 0.0;  // centre of mass, relative to (x0, y0)
      for (int64_t y = y0; y < y1; ++y) {
        for (int64_t x = x0; x < x1; ++x) {
          const double v = ink_at(x, y);
          mass += v;
          mx += v * (static_cast<double>(x - x0) + 0.5);
          my += v * (static_cast<double>(y - y0) + 0.5);
        }
      }
      ax.scale = ay.scale = s;
      ax.offset = w / 2.0 - mx / mass * s;
      ay.offset = h / 2.0 - my / mass * s;
      break;
    }
    case Framing::kNone:
      ax = {0, pw, 0.0, w / static_cast<double>(pw)};
      ay = {0, ph, 0.0, h / static_cast<double>(ph)};
      break;
  }

  // Area resampling: out(i, j) = sum over source (p, q) of wx(i, p) * wy(j, q) * ink(p, q).
  const auto wx = axis_weights(ax, width), wy = axis_weights(ay, height);
  out.image = GreyImage{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height), 0)};
  std::vector<double> row(static_cast<size_t>(width));
  for (int64_t j = 0; j < height; ++j) {
    std::fill(row.begin(), row.end(), 0.0);
    for (const auto& [q, weight_y] : wy[static_cast<size_t>(j)]) {
      for (int64_t i = 0; i < width; ++i) {
        double sum = 0.0;
        for (const auto& [p, weight_x] : wx[static_cast<size_t>(i)]) sum += weight_x * ink_at(p, q);
        row[static_cast<size_t>(i)] += weight_y * sum;
      }
    }
    for (int64_t i = 0; i < width; ++i) {
      out.image.pixels[static_cast<size_t>(j * width + i)] =
          static_cast<uint8_t>(std::clamp(std::lround(row[static_cast<size_t>(i)]), 0L, 255L));
    }
  }

  // 4. The dataset reader's conversion.
  out.input.resize(out.image.pixels.size());
  data::uint8_to_input(out.image.pixels.data(), out.image.pixels.size(), out.input.data());
  return out;
}

}  // namespace hpcnn::serve
