// Augmentation when data is loaded (see augment.hpp).
#include "data/augment.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace hpcnn::data {

namespace {

constexpr uint64_t kAugmentPurpose = 0x61756d656e74ULL;  // "aument": the stream's purpose key

std::string number_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

struct Key {
  const char* name;
  double AugmentSpec::*field;
  double max;
};
constexpr Key kKeys[] = {{"rotate", &AugmentSpec::rotate_deg, 180.0},
                         {"scale", &AugmentSpec::scale, 0.9},
                         {"shift", &AugmentSpec::shift, 1.0},
                         {"stroke", &AugmentSpec::stroke, 1.0},
                         {"noise", &AugmentSpec::noise, 10.0}};

/// 3x3 grey dilation (max) or erosion (min) of one plane, edges repeated.
void morph3x3(const float* src, float* dst, int64_t h, int64_t w, bool dilate) {
  for (int64_t y = 0; y < h; ++y) {
    const int64_t y0 = std::max<int64_t>(y - 1, 0), y1 = std::min<int64_t>(y + 1, h - 1);
    for (int64_t x = 0; x < w; ++x) {
      const int64_t x0 = std::max<int64_t>(x - 1, 0), x1 = std::min<int64_t>(x + 1, w - 1);
      float v = src[y * w + x];
      for (int64_t yy = y0; yy <= y1; ++yy) {
        for (int64_t xx = x0; xx <= x1; ++xx) {
          const float s = src[yy * w + xx];
          v = dilate ? std::max(v, s) : std::min(v, s);
        }
      }
      dst[y * w + x] = v;
    }
  }
}

}  // namespace

AugmentSpec AugmentSpec::defaults() {
  AugmentSpec s;
  s.rotate_deg = 10.0;
  s.scale = 0.1;
  s.shift = 0.1;
  s.stroke = 0.3;
  s.noise = 0.02;
  return s;
}

std::string AugmentSpec::to_string() const {
  if (!enabled()) return "off";
  std::string out;
  for (const Key& k : kKeys) {
    if (!out.empty()) out += ',';
    out += cat(k.name, '=', number_text(this->*k.field));
  }
  return out;
}

AugmentSpec parse_augment(std::string_view text) {
  AugmentSpec spec;
  if (text.empty() || text == "off") return spec;
  size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view token = text.substr(start, comma - start);
    start = comma + 1;
    if (token == "on" && first) {
      spec = AugmentSpec::defaults();
      first = false;
      continue;
    }
    first = false;
    const size_t eq = token.find('=');
    const std::string_view name = token.substr(0, eq);
    const Key* key = nullptr;
    for (const Key& k : kKeys) {
      if (name == k.name) key = &k;
    }
    if (eq == std::string_view::npos || key == nullptr) {
      throw UsageError(cat("--augment: '", token,
                           "' is not KEY=VALUE with KEY rotate, scale, shift, stroke or noise (or 'on' first, or "
                           "'off')"));
    }
    const std::string_view value = token.substr(eq + 1);
    double v = 0.0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    if (r.ec != std::errc() || r.ptr != value.data() + value.size() || !std::isfinite(v) || v < 0 || v > key->max) {
      throw UsageError(cat("--augment: ", key->name, "='", value, "' must be a number in [0, ", key->max, "]"));
    }
    spec.*(key->field) = v;
  }
  return spec;
}

Augmenter::Augmenter(AugmentSpec spec, uint64_t seed, int64_t channels, int64_t height, int64_t width, bool unit_range)
    : spec_(spec), seed_(seed), c_(channels), h_(height), w_(width), unit_range_(unit_range) {
  HPCNN_CHECK(channels > 0 && height > 0 && width > 0, "augment: bad image shape ", channels, "x", height, "x", width);
}

namespace {
const Manifest& require_images(const Manifest& m) {
  const auto& [channels, height, width] = m.sample_shape;
  if (height < 3 || width < 3) {
    throw UsageError(cat("--augment transforms images, but ", m.name, "'s samples are ", channels, "x", height, "x",
                         width, ", not images"));
  }
  return m;
}
}  // namespace

Augmenter::Augmenter(AugmentSpec spec, uint64_t seed, const Manifest& dataset)
    : Augmenter(spec, seed, require_images(dataset).sample_shape[0], dataset.sample_shape[1], dataset.sample_shape[2],
                dataset.sample_type == SampleType::kUInt8) {}

void Augmenter::apply(Batch& batch, int64_t epoch) const {
  if (!spec_.enabled()) return;
  const int64_t elements = c_ * h_ * w_;
  HPCNN_CHECK(static_cast<int64_t>(batch.samples.size()) >= batch.count * elements &&
                  static_cast<int64_t>(batch.indices.size()) >= batch.count,
              "augment: the batch does not hold ", batch.count, " samples of ", elements, " elements");
  std::vector<float> scratch;
  for (int64_t i = 0; i < batch.count; ++i) {
    apply_one(batch.samples.data() + i * elements, epoch, batch.indices[static_cast<size_t>(i)], scratch);
  }
}

void Augmenter::apply_one(float* image, int64_t epoch, int64_t index, std::vector<float>& scratch) const {
  if (!spec_.enabled()) return;
  Rng rng(derive_key({seed_, kAugmentPurpose, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index)}));
  const int64_t plane = h_ * w_;
  scratch.resize(static_cast<size_t>(plane));

  // 1. The affine map, sampled backwards.
  double angle = 0.0, s = 1.0, dx = 0.0, dy = 0.0;
  if (spec_.rotate_deg > 0) angle = rng.uniform(-spec_.rotate_deg, spec_.rotate_deg) * std::numbers::pi / 180.0;
  if (spec_.scale > 0) s = rng.uniform(1.0 - spec_.scale, 1.0 + spec_.scale);
  if (spec_.shift > 0) {
    dx = rng.uniform(-spec_.shift, spec_.shift) * static_cast<double>(w_);
    dy = rng.uniform(-spec_.shift, spec_.shift) * static_cast<double>(h_);
  }
  if (angle != 0.0 || s != 1.0 || dx != 0.0 || dy != 0.0) {
    // Output pixel p' reads the input at p = R(-angle) (p' - c - d) / s + c.
    const double cx = 0.5 * static_cast<double>(w_ - 1), cy = 0.5 * static_cast<double>(h_ - 1);
    const auto ca = static_cast<float>(std::cos(angle) / s), sa = static_cast<float>(std::sin(angle) / s);
    const auto ox = static_cast<float>(cx + dx), oy = static_cast<float>(cy + dy);
    const auto fcx = static_cast<float>(cx), fcy = static_cast<float>(cy);
    const int64_t wm = w_ - 1, hm = h_ - 1;
    for (int64_t ch = 0; ch < c_; ++ch) {
      float* img = image + ch * plane;
      std::copy(img, img + plane, scratch.begin());
      for (int64_t y = 0; y < h_; ++y) {
        const float v = static_cast<float>(y) - oy;
        for (int64_t x = 0; x < w_; ++x) {
          const float u = static_cast<float>(x) - ox;
          const float xs = fcx + ca * u + sa * v, ys = fcy - sa * u + ca * v;
          const float fx0 = std::floor(xs), fy0 = std::floor(ys);
          const float fx = xs - fx0, fy = ys - fy0;
          const auto x0 = static_cast<int64_t>(fx0), y0 = static_cast<int64_t>(fy0);
          const int64_t xa = std::clamp<int64_t>(x0, 0, wm), xb = std::clamp<int64_t>(x0 + 1, 0, wm);
          const int64_t ya = std::clamp<int64_t>(y0, 0, hm), yb = std::clamp<int64_t>(y0 + 1, 0, hm);
          const float top = scratch[ya * w_ + xa] + fx * (scratch[ya * w_ + xb] - scratch[ya * w_ + xa]);
          const float bottom = scratch[yb * w_ + xa] + fx * (scratch[yb * w_ + xb] - scratch[yb * w_ + xa]);
          img[y * w_ + x] = top + fy * (bottom - top);
        }
      }
    }
  }
  // 2. Stroke width.
  if (spec_.stroke > 0 && rng.bernoulli(spec_.stroke)) {
    const bool dilate = rng.bernoulli(0.5);
    const auto strength = static_cast<float>(rng.uniform());
    for (int64_t ch = 0; ch < c_; ++ch) {
      float* img = image + ch * plane;
      std::copy(img, img + plane, scratch.begin());
      morph3x3(scratch.data(), img, h_, w_, dilate);
      for (int64_t k = 0; k < plane; ++k) img[k] = scratch[k] + strength * (img[k] - scratch[k]);
    }
  }
  // 3. Noise.
  const int64_t elements = c_ * plane;
  if (spec_.noise > 0) {
    for (int64_t k = 0; k < elements; ++k) image[k] += static_cast<float>(spec_.noise * rng.normal());
  }
  if (unit_range_) {
    for (int64_t k = 0; k < elements; ++k) image[k] = std::clamp(image[k], 0.0f, 1.0f);
  }
}

}  // namespace hpcnn::data
