// Augmentation when data is loaded (data/augment.hpp): the --augment grammar,
// keying by (seed, epoch, global index) alone, and what each step does.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "data/augment.hpp"

using namespace hpcnn;
using data::Augmenter;
using data::AugmentSpec;
using data::parse_augment;

namespace {

constexpr int64_t kH = 20, kW = 24;

/// A test image whose every pixel differs: a diagonal ramp in [0, 1].
std::vector<float> ramp_image(int64_t index) {
  std::vector<float> img(static_cast<size_t>(kH * kW));
  for (int64_t y = 0; y < kH; ++y) {
    for (int64_t x = 0; x < kW; ++x) {
      img[static_cast<size_t>(y * kW + x)] = static_cast<float>((x + 2 * y + index) % 37) / 36.0f;
    }
  }
  return img;
}

/// A batch of the given global indices, each sample its ramp image.
data::Batch batch_of(const std::vector<int64_t>& indices) {
  data::Batch b;
  b.count = static_cast<int64_t>(indices.size());
  b.indices = indices;
  for (int64_t i : indices) {
    const std::vector<float> img = ramp_image(i);
    b.samples.insert(b.samples.end(), img.begin(), img.end());
  }
  return b;
}

std::vector<float> sample_of(const data::Batch& b, size_t i) {
  const auto n = static_cast<size_t>(kH * kW);
  return {b.samples.begin() + static_cast<std::ptrdiff_t>(i * n),
          b.samples.begin() + static_cast<std::ptrdiff_t>((i + 1) * n)};
}

}  // namespace

TEST_CASE("Augment spec grammar: off, on, overrides, errors", "[augment]") {
  CHECK_FALSE(parse_augment("off").enabled());
  CHECK_FALSE(parse_augment("").enabled());
  CHECK(parse_augment("on") == AugmentSpec::defaults());
  const AugmentSpec no_noise = parse_augment("on,noise=0");
  CHECK(no_noise.noise == 0.0);
  CHECK(no_noise.rotate_deg == AugmentSpec::defaults().rotate_deg);
  const AugmentSpec rot = parse_augment("rotate=15");
  CHECK(rot.rotate_deg == 15.0);
  CHECK(rot.scale == 0.0);
  CHECK(rot.noise == 0.0);
  // The canonical text parses back to the same spec (run.json records it).
  for (const char* text : {"on", "rotate=15", "on,noise=0", "scale=0.05,shift=0.125,stroke=1", "off"}) {
    const AugmentSpec s = parse_augment(text);
    CHECK(parse_augment(s.to_string()) == s);
  }
  CHECK(parse_augment("on").to_string() == "rotate=10,scale=0.1,shift=0.1,stroke=0.3,noise=0.02");
  for (const char* bad : {"yes", "rotate", "rotate=", "rotate=abc", "rotate=200", "scale=-0.1", "noise=nan",
                          "noise=inf", "shift=0.1x", "bogus=1", "rotate=5,on", "on,,noise=0"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_augment(bad), UsageError);
  }
}

TEST_CASE("augmentation is keyed by (seed, epoch, global index) only", "[augment]") {
  const Augmenter aug(AugmentSpec::defaults(), 7, 1, kH, kW, true);
  // One batch in one order against the same samples split over "ranks" in another order.
  data::Batch whole = batch_of({5, 9, 2, 40});
  aug.apply(whole, 3);
  data::Batch part_a = batch_of({40, 2});
  data::Batch part_b = batch_of({9, 5});
  aug.apply(part_a, 3);
  aug.apply(part_b, 3);
  CHECK(sample_of(whole, 0) == sample_of(part_b, 1));
  CHECK(sample_of(whole, 1) == sample_of(part_b, 0));
  CHECK(sample_of(whole, 2) == sample_of(part_a, 1));
  CHECK(sample_of(whole, 3) == sample_of(part_a, 0));
  // Another epoch, seed or index is another image; off is the identity.
  data::Batch other_epoch = batch_of({5});
  aug.apply(other_epoch, 4);
  CHECK(sample_of(other_epoch, 0) != sample_of(whole, 0));
  data::Batch other_seed = batch_of({5});
  Augmenter(AugmentSpec::defaults(), 8, 1, kH, kW, true).apply(other_seed, 3);
  CHECK(sample_of(other_seed, 0) != sample_of(whole, 0));
  data::Batch off = batch_of({5});
  Augmenter(AugmentSpec{}, 7, 1, kH, kW, true).apply(off, 3);
  CHECK(sample_of(off, 0) == ramp_image(5));
  // 8-bit data stays in [0, 1].
  for (float v : whole.samples) {
    REQUIRE(v >= 0.0f);
    REQUIRE(v <= 1.0f);
  }
}

TEST_CASE("augmentation steps: the warp keeps flat images flat, noise has its std, strokes move", "[augment]") {
  std::vector<float> scratch;
  // Rotation, scale and shift of a flat image: bilinear weights sum to one, edges repeat.
  const AugmentSpec warp = parse_augment("rotate=30,scale=0.3,shift=0.3");
  const Augmenter warper(warp, 1, 2, kH, kW, false);
  for (int64_t index = 0; index < 20; ++index) {
    std::vector<float> flat(static_cast<size_t>(2 * kH * kW), 0.375f);
    warper.apply_one(flat.data(), 1, index, scratch);
    for (float v : flat) REQUIRE(std::abs(v - 0.375f) < 1e-6f);
  }
  // The warp moves a ramp (some draw is never the identity).
  std::vector<float> ramp = ramp_image(0);
  Augmenter(warp, 1, 1, kH, kW, false).apply_one(ramp.data(), 1, 0, scratch);
  CHECK(ramp != ramp_image(0));

  // Noise only: mean ~0 and std ~ noise over many pixels (float data: not clamped).
  const Augmenter noisy(parse_augment("noise=0.5"), 3, 1, 64, 64, false);
  std::vector<float> img(64 * 64, 0.0f);
  noisy.apply_one(img.data(), 1, 11, scratch);
  const double mean = std::accumulate(img.begin(), img.end(), 0.0) / static_cast<double>(img.size());
  double var = 0;
  for (float v : img) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / static_cast<double>(img.size()));
  CHECK(std::abs(mean) < 0.05);
  CHECK(sd == Approx(0.5).epsilon(0.05));
  CHECK(*std::min_element(img.begin(), img.end()) < 0.0f);  // not clamped

  // Stroke only, always applied: a lone bright pixel either spreads to its
  // neighbours (dilation) or dims (erosion), never both; both happen over samples.
  const Augmenter stroke(parse_augment("stroke=1"), 5, 1, kH, kW, true);
  int dilated = 0, eroded = 0;
  for (int64_t index = 0; index < 64; ++index) {
    std::vector<float> dot(static_cast<size_t>(kH * kW), 0.0f);
    const size_t centre = static_cast<size_t>(10 * kW + 12);
    dot[centre] = 1.0f;
    stroke.apply_one(dot.data(), 1, index, scratch);
    const bool spread = dot[centre + 1] > 0.0f && dot[centre - static_cast<size_t>(kW)] > 0.0f;
    const bool dimmed = dot[centre] < 1.0f;
    REQUIRE(spread != dimmed);
    REQUIRE(std::count_if(dot.begin(), dot.end(), [](float v) { return v > 0.0f; }) == (spread ? 9 : 1));
    (spread ? dilated : eroded) += 1;
  }
  CHECK(dilated > 10);
  CHECK(eroded > 10);
}
