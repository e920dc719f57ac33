// Synthetic generators: determinism, balance, shapes, and a learnable signal.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/rng.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/synth/circuits.hpp"
#include "data/synth/generate.hpp"
#include "data/synth/sky.hpp"
#include "fixtures.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
using namespace hpcnn::data::synth;

namespace {
using test::kQuiet;

SynthConfig small(Kind kind, const std::filesystem::path& out, int shards) {
  SynthConfig c;
  c.kind = kind;
  c.out = out;
  c.train = 48;
  c.validation = 8;
  c.test = 12;
  c.seed = 99;
  c.shards = shards;
  c.map_size = 12;
  c.sensors = 10;
  c.image_size = 24;
  return c;
}

std::vector<float> all_samples(const std::filesystem::path& dir, const std::string& split,
                               std::vector<float>* answers) {
  const Manifest m = load_manifest(dir);
  SplitReader reader(dir, m, split, false);
  std::vector<int64_t> idx(static_cast<size_t>(reader.num_samples()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  Batch b;
  reader.read(idx, b);
  if (answers) {
    answers->assign(b.targets.begin(), b.targets.end());
    for (int32_t l : b.labels) answers->push_back(static_cast<float>(l));
  }
  return b.samples;
}
}  // namespace

TEST_CASE("Synth: same seed gives identical data, whatever the shard count", "[synth]") {
  for (Kind kind : {Kind::kSolarMaps, Kind::kSolarTable, Kind::kCircuits}) {
    INFO(kind_name(kind));
    test::ScratchDir dir("synth");
    generate(small(kind, dir / "a", 1), kQuiet);
    generate(small(kind, dir / "b", 1), kQuiet);
    generate(small(kind, dir / "c", 3), kQuiet);
    // Same shards: byte-identical files.
    const Manifest a = load_manifest(dir / "a"), b = load_manifest(dir / "b");
    CHECK(a.split("train").shards[0].sha256 == b.split("train").shards[0].sha256);
    CHECK(a.split("test").shards[0].sha256 == b.split("test").shards[0].sha256);
    // Other shard counts: the same samples in the same global order.
    for (const char* split : {"train", "validation", "test"}) {
      std::vector<float> ya, yc;
      CHECK(all_samples(dir / "a", split, &ya) == all_samples(dir / "c", split, &yc));
      CHECK(ya == yc);
    }
    // Another seed: different data.
    SynthConfig other = small(kind, dir / "d", 1);
    other.seed = 100;
    generate(other, kQuiet);
    CHECK(all_samples(dir / "a", "train", nullptr) != all_samples(dir / "d", "train", nullptr));
  }
}

TEST_CASE("Synth circuits: balanced classes, ink present, shapes as declared", "[synth]") {
  test::ScratchDir dir("circuits");
  const Manifest m = generate(small(Kind::kCircuits, dir / "c", 2), kQuiet);
  CHECK(m.num_classes == 4);
  CHECK(m.sample_shape == std::array<int64_t, 3>{1, 24, 24});
  std::vector<float> labels;
  const auto pixels = all_samples(dir / "c", "train", &labels);
  std::vector<int> counts(4, 0);
  for (float l : labels) ++counts[static_cast<size_t>(l)];
  CHECK(counts == std::vector<int>{12, 12, 12, 12});
  // Every image has strokes: some pixels near full intensity.
  for (size_t i = 0; i < labels.size(); ++i) {
    float peak = 0;
    for (size_t p = 0; p < 24 * 24; ++p) peak = std::max(peak, pixels[i * 24 * 24 + p]);
    CHECK(peak > 200.0f);
  }
}

TEST_CASE("Synth circuits: the classes carry signal a trivial classifier finds", "[synth]") {
  // 1-nearest-neighbour on raw pixels, 800 references, 200 queries: far above
  // the 25% of chance, though rotation, scale and shift keep it from perfect.
  const CircuitStyle style{24, 4.0};
  const size_t pixels = 24 * 24;
  auto make = [&](int first, int count, std::vector<float>& images, std::vector<int>& labels) {
    std::vector<uint8_t> img(pixels);
    for (int i = first; i < first + count; ++i) {
      draw_symbol(static_cast<Symbol>(i % kNumSymbols), derive_key({11, static_cast<uint64_t>(i)}), style, img);
      images.insert(images.end(), img.begin(), img.end());
      labels.push_back(i % kNumSymbols);
    }
  };
  std::vector<float> ref, query;
  std::vector<int> ref_labels, query_labels;
  make(0, 800, ref, ref_labels);
  make(800, 200, query, query_labels);
  int correct = 0;
  for (size_t q = 0; q < query_labels.size(); ++q) {
    double best = 1e300;
    int best_label = -1;
    for (size_t r = 0; r < ref_labels.size(); ++r) {
      double d = 0;
      for (size_t p = 0; p < pixels; ++p) {
        const double diff = query[q * pixels + p] - ref[r * pixels + p];
        d += diff * diff;
      }
      if (d < best) {
        best = d;
        best_label = ref_labels[r];
      }
    }
    correct += best_label == query_labels[q];
  }
  INFO("1-NN accuracy " << correct / 200.0);
  CHECK(correct > 90);  // > 45%
}

TEST_CASE("Synth sky: shadows move downwind, so the present predicts the future", "[synth]") {
  const SkyModel sky(5, 4000.0);
  REQUIRE(sky.clouds().size() > 100);
  // A cloud's shadow at t is found at its advected position at t + 10.
  int matched = 0, tried = 0;
  for (const Cloud& c : sky.clouds()) {
    const double t = c.t0 + 0.5 * (c.t_end - c.t0);
    if (t < 0 || t + 10 > 4000 || c.opacity < 0.6) continue;
    ++tried;
    const double x = c.x0 + c.vx * (t + 10 - c.t0), y = c.y0 + c.vy * (t + 10 - c.t0);
    const double at_centre = sky.irradiance(x, y, t + 10);
    const double clear = sky.irradiance(x + 5, y + 5, t + 10);  // far outside every cloud
    if (at_centre < clear * (1 - 0.5 * c.opacity)) ++matched;
  }
  REQUIRE(tried > 20);
  CHECK(matched == tried);
  // Irradiance stays physical.
  for (double t = 0; t < 4000; t += 97) {
    const double v = sky.irradiance(0.3, 0.7, t);
    CHECK(v > 0.0);
    CHECK(v <= 1.0);
  }
}

TEST_CASE("Synth sky: a prevailing wind keeps every regime within its spread, the default sky unchanged", "[synth]") {
  const SkyModel any(5, 40000.0);
  const SkyModel any_again(5, 40000.0, 180.0, 1.0);  // the prevailing direction plays no part at 180
  const double towards = 2.0;                        // radians from +x
  const SkyModel prevailing(5, 40000.0, 30.0, towards);
  REQUIRE(any.clouds().size() == prevailing.clouds().size());
  REQUIRE(any.clouds().size() == any_again.clouds().size());
  double widest = 0.0, widest_any = 0.0;
  for (size_t i = 0; i < any.clouds().size(); ++i) {
    const Cloud &a = any.clouds()[i], &b = any_again.clouds()[i], &p = prevailing.clouds()[i];
    REQUIRE((a.vx == b.vx && a.vy == b.vy && a.t0 == b.t0));
    // Everything but the direction (and the start point that follows from it) is the same sky.
    REQUIRE(a.t0 == p.t0);
    REQUIRE(a.radius == p.radius);
    REQUIRE(std::hypot(a.vx, a.vy) == Approx(std::hypot(p.vx, p.vy)));
    auto off = [&](const Cloud& c) { return std::abs(std::remainder(std::atan2(c.vy, c.vx) - towards, 2 * M_PI)); };
    widest = std::max(widest, off(p));
    widest_any = std::max(widest_any, off(a));
  }
  // +-30 degrees per regime, +-0.15 rad per cloud around it.
  CHECK(widest <= 30.0 * M_PI / 180.0 + 0.15 + 1e-9);
  CHECK(widest_any > 2.5);  // any direction: some cloud blows nearly the other way
}

TEST_CASE("Synth solar: regression manifests describe their targets", "[synth]") {
  test::ScratchDir dir("solar");
  const Manifest maps = generate(small(Kind::kSolarMaps, dir / "m", 1), kQuiet);
  CHECK(maps.task == Task::kRegression);
  CHECK(maps.sample_shape == std::array<int64_t, 3>{1, 12, 12});
  CHECK(maps.target_dim == 1);
  const Manifest table = generate(small(Kind::kSolarTable, dir / "t", 1), kQuiet);
  CHECK(table.sample_shape == std::array<int64_t, 3>{10, 1, 1});
  std::vector<float> targets;
  const auto x = all_samples(dir / "t", "train", &targets);
  CHECK(targets.size() == 48);
  for (float v : x) CHECK(std::isfinite(v));
  CHECK_FALSE(table.generator.contains("wind_spread_deg"));  // default manifests stay as they were
  SynthConfig windy = small(Kind::kSolarTable, dir / "w", 1);
  windy.wind_spread_deg = 30.0;
  const Manifest w = generate(windy, kQuiet);
  CHECK(w.generator.at("wind_spread_deg") == 30.0);
  CHECK(all_samples(dir / "w", "train", nullptr) != x);
}

TEST_CASE("RNG and SHA-256: fixed answers", "[core]") {
  // SHA-256 of "abc" (FIPS 180-2 test vector).
  const std::string abc = "abc";
  CHECK(sha256_hex({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()}) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Rng a(1), b(1), c(2);
  const uint64_t first = a.next_u64();
  CHECK(first == b.next_u64());
  CHECK(first != c.next_u64());
  // Bounded integers are in range and roughly uniform.
  Rng r(3);
  std::vector<int> hist(10, 0);
  for (int i = 0; i < 100000; ++i) ++hist[static_cast<size_t>(r.uniform_index(10))];
  for (int h : hist) CHECK(std::abs(h - 10000) < 500);
  // Normals have mean ~0 and variance ~1.
  double sum = 0, sq = 0;
  for (int i = 0; i < 100000; ++i) {
    const double v = r.normal();
    sum += v;
    sq += v * v;
  }
  CHECK(std::abs(sum / 100000) < 0.02);
  CHECK(std::abs(sq / 100000 - 1.0) < 0.02);
}
