// Synthetic dataset assembly: manifests and block fillers per kind.
#include "data/synth/generate.hpp"

#include <cmath>
#include <numbers>
#include <optional>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/rng.hpp"
#include "data/synth/circuits.hpp"
#include "data/synth/math_symbols.hpp"
#include "data/synth/sky.hpp"

namespace hpcnn::data::synth {

Kind parse_kind(const std::string& text) {
  if (text == "solar-maps") return Kind::kSolarMaps;
  if (text == "solar-table") return Kind::kSolarTable;
  if (text == "circuits") return Kind::kCircuits;
  if (text == "math-symbols") return Kind::kMathSymbols;
  throw UsageError("unknown synthetic dataset '" + text +
                   "' (expected solar-maps, solar-table, circuits or math-symbols)");
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kSolarMaps: return "solar-maps";
    case Kind::kSolarTable: return "solar-table";
    case Kind::kCircuits: return "circuits";
    case Kind::kMathSymbols: return "math-symbols";
  }
  return "unknown";
}

std::pair<int64_t, int64_t> default_counts(Kind kind) {
  switch (kind) {
    case Kind::kSolarMaps: return {20000, 2000};
    case Kind::kSolarTable: return {100000, 10000};
    case Kind::kCircuits: return {8000, 2000};
    case Kind::kMathSymbols: return {3600, 1000};  // generated symbols; the digits come on top
  }
  return {0, 0};
}

namespace {
struct SplitPlan {
  const char* name;
  int64_t count;
  uint64_t id;
};

/// Sensor positions of the tabular dataset: fixed by the seed, kept off the edges.
std::vector<std::pair<double, double>> sensor_positions(uint64_t seed, int n) {
  Rng rng(derive_key({seed, 0x53454E53ULL /* "SENS" */}));
  std::vector<std::pair<double, double>> pos(static_cast<size_t>(n));
  for (auto& p : pos) p = {rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)};
  return pos;
}

/// Every sample of `split` of a digit dataset, as raw 0..255 bytes with labels.
struct Digits {
  std::vector<uint8_t> pixels;  // count * 28 * 28
  std::vector<int32_t> labels;
  int64_t count() const { return static_cast<int64_t>(labels.size()); }
};

Manifest load_digit_manifest(const std::filesystem::path& dir) {
  Manifest m = load_manifest(dir);
  HPCNN_CHECK(m.task == Task::kClassification && m.num_classes == 10 && m.sample_type == SampleType::kUInt8 &&
                  m.sample_shape[0] == 1,
              "math-symbols: ", dir.string(), " is not a 10-class dataset of one-channel 8-bit digit images");
  return m;
}

/// Appends the samples of `split` of `dir`; `reframe` frames each like MNIST
/// (any H x W), otherwise the images must already be 28x28 and are copied.
void read_digits(const std::filesystem::path& dir, const Manifest& m, const std::string& split, bool reframe,
                 Digits& out) {
  if (!m.splits.contains(split)) return;
  const int64_t h = m.sample_shape[1], w = m.sample_shape[2];
  HPCNN_CHECK(reframe || (h == kMathImageSize && w == kMathImageSize), "math-symbols: ", dir.string(), " has ", h, "x",
              w, " images, expected 28x28");
  SplitReader reader(dir, m, split, /*scale_uint8=*/false);
  std::vector<int64_t> indices(static_cast<size_t>(reader.num_samples()));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
  Batch batch;
  reader.read(indices, batch);
  const size_t frame = size_t{kMathImageSize} * kMathImageSize, pixels = static_cast<size_t>(h * w);
  std::vector<float> ink(pixels);
  for (int64_t i = 0; i < batch.count; ++i) {
    const float* src = batch.samples.data() + static_cast<size_t>(i) * pixels;
    const size_t at = out.pixels.size();
    out.pixels.resize(at + frame);
    if (reframe) {
      for (size_t k = 0; k < pixels; ++k) ink[k] = src[k] / 255.0f;
      frame_like_mnist(ink, static_cast<int>(w), static_cast<int>(h), std::span(out.pixels).subspan(at, frame));
    } else {
      for (size_t k = 0; k < frame; ++k) out.pixels[at + k] = static_cast<uint8_t>(std::lround(src[k]));
    }
    out.labels.push_back(batch.labels[static_cast<size_t>(i)]);
  }
}
}  // namespace

Manifest generate(const SynthConfig& config, const Logger& log) {
  if (config.force) require_replaceable_dataset(config.out);
  const bool solar = config.kind == Kind::kSolarMaps || config.kind == Kind::kSolarTable;
  Manifest m;
  m.name = kind_name(config.kind);
  m.source = std::string("synthetic: hpcnn data synth ") + kind_name(config.kind);
  const double interval = config.interval_s > 0 ? config.interval_s : (config.kind == Kind::kSolarMaps ? 5.0 : 1.0);
  nlohmann::json gen = {{"kind", kind_name(config.kind)}, {"seed", config.seed}};
  switch (config.kind) {
    case Kind::kSolarMaps:
      m.task = Task::kRegression;
      m.sample_type = SampleType::kFloat32;
      m.sample_shape = {1, config.map_size, config.map_size};
      m.target_dim = 1;
      m.target_description = "irradiance at the centre sensor " + cat(config.horizon_s) + " s after the map, kW/m^2";
      gen.update({{"horizon_s", config.horizon_s}, {"interval_s", interval}, {"map_size", config.map_size}});
      break;
    case Kind::kSolarTable:
      m.task = Task::kRegression;
      m.sample_type = SampleType::kFloat32;
      m.sample_shape = {config.sensors, 1, 1};
      m.target_dim = 1;
      m.target_description = "irradiance at sensor " + std::to_string(config.target_sensor) + " " +
                             cat(config.horizon_s) + " s after the readings, kW/m^2";
      gen.update({{"horizon_s", config.horizon_s},
                  {"interval_s", interval},
                  {"sensors", config.sensors},
                  {"target_sensor", config.target_sensor}});
      break;
    case Kind::kCircuits:
      m.task = Task::kClassification;
      m.sample_type = SampleType::kUInt8;
      m.sample_shape = {1, config.image_size, config.image_size};
      m.num_classes = kNumSymbols;
      m.class_names = symbol_names();
      gen.update({{"image_size", config.image_size}, {"max_noise", config.max_noise}});
      break;
    case Kind::kMathSymbols:
      m.task = Task::kClassification;
      m.sample_type = SampleType::kUInt8;
      m.sample_shape = {1, kMathImageSize, kMathImageSize};
      m.num_classes = kMathClasses;
      m.class_names = math_class_names();
      m.source = (config.digits.empty() ? std::string("digits 0-9: none")
                                        : "digits 0-9: the handwritten dataset " + config.digits.string()) +
                 (config.test_digits.empty() ? std::string()
                                             : " (test split: " + config.test_digits.string() + ", reframed)") +
                 "; + - \\times \\div = ( ) . x y: synthetic pen strokes (hpcnn data synth math-symbols)";
      gen.update(
          {{"digits", config.digits.string()},
           {"test_digits", config.test_digits.string()},
           {"generated_per_split", {{"train", config.train}, {"validation", config.validation}, {"test", config.test}}},
           {"framing", "mnist: longer side 20 of 28 pixels, centre of mass centred"}});
      // Recorded only when used, so manifests made without it stay as they were.
      if (config.digit_copies > 0) {
        gen["digit_elastic_copies"] = config.digit_copies;
        m.source += cat("; training digits each followed by ", config.digit_copies, " elastic distortions of it");
      }
      break;
  }
  // Recorded only when not the default, so default manifests stay as they were.
  if (solar && config.wind_spread_deg < 180.0) gen["wind_spread_deg"] = config.wind_spread_deg;
  m.generator = gen;

  const SplitPlan plan[] = {{"train", config.train, 0}, {"validation", config.validation, 1}, {"test", config.test, 2}};
  // Solar splits are consecutive stretches of simulated time with a gap between them.
  const double gap_s = 600.0;
  double duration = 0;
  std::vector<double> split_start;
  for (const SplitPlan& p : plan) {
    split_start.push_back(duration);
    duration += static_cast<double>(p.count) * interval + config.horizon_s + gap_s;
  }
  std::optional<SkyModel> sky;
  // A prevailing wind blows from the field's centre towards the table's
  // target sensor, so that sensor has the longest stretch of sensors upwind
  // (the maps' target is the centre: any direction serves).
  const auto sensors = sensor_positions(config.seed, config.sensors);
  double prevailing = 0.25 * std::numbers::pi;
  if (config.kind == Kind::kSolarTable) {
    const auto [tx, ty] = sensors[static_cast<size_t>(config.target_sensor)];
    prevailing = std::atan2(ty - 0.5, tx - 0.5);
  }
  if (solar) sky.emplace(config.seed, duration, config.wind_spread_deg, prevailing);
  const CircuitStyle style{config.image_size, config.max_noise};
  std::optional<Manifest> digit_manifest, test_digit_manifest;
  if (config.kind == Kind::kMathSymbols) {
    if (!config.digits.empty()) digit_manifest = load_digit_manifest(config.digits);
    if (!config.test_digits.empty()) test_digit_manifest = load_digit_manifest(config.test_digits);
  }

  StagingDir staging(config.out, config.force);
  WriteOptions options;
  options.num_shards = config.shards;
  options.deflate_level = config.deflate_level;
  options.block_samples = 1024;
  for (size_t k = 0; k < std::size(plan); ++k) {
    const SplitPlan& p = plan[k];
    Digits digits;
    int64_t count = p.count;
    if (config.kind == Kind::kMathSymbols) {
      if (p.id == 2 && test_digit_manifest) {
        for (const auto& [split_name, info] : test_digit_manifest->splits) {
          read_digits(config.test_digits, *test_digit_manifest, split_name, true, digits);
        }
      } else if (digit_manifest) {
        read_digits(config.digits, *digit_manifest, p.name, false, digits);
        if (p.id == 0 && config.digit_copies > 0) {
          // Elastic copies of the training digits, after the originals.
          constexpr size_t frame = size_t{kMathImageSize} * kMathImageSize;
          const int64_t originals = digits.count();
          for (int copy = 1; copy <= config.digit_copies; ++copy) {
            for (int64_t i = 0; i < originals; ++i) {
              const size_t at = digits.pixels.size();
              digits.pixels.resize(at + frame);
              elastic_digit(std::span<const uint8_t>(digits.pixels).subspan(static_cast<size_t>(i) * frame, frame),
                            derive_key({config.seed, 0x454C4153ULL /* "ELAS" */, static_cast<uint64_t>(i),
                                        static_cast<uint64_t>(copy)}),
                            std::span(digits.pixels).subspan(at, frame));
              digits.labels.push_back(digits.labels[static_cast<size_t>(i)]);
            }
          }
        }
      }
      count += digits.count();
      m.generator["digits_per_split"][p.name] = digits.count();
    }
    if (count == 0) continue;
    const double t_start = split_start[k];
    BlockFiller fill = [&, p, t_start](SampleBlock& block) {
      if (config.kind == Kind::kMathSymbols) {
        // The split's digits first, then its generated symbols, classes in turn.
        constexpr int64_t pixels = int64_t{kMathImageSize} * kMathImageSize;
        for (int64_t i = 0; i < block.count; ++i) {
          const int64_t index = block.first_index + i;
          const auto out = block.samples_u8.subspan(static_cast<size_t>(i * pixels), static_cast<size_t>(pixels));
          if (index < digits.count()) {
            std::copy_n(digits.pixels.begin() + index * pixels, pixels, out.begin());
            block.labels[static_cast<size_t>(i)] = digits.labels[static_cast<size_t>(index)];
          } else {
            const int64_t j = index - digits.count();
            const int cls = kFirstMathSymbol + static_cast<int>(j % (kMathClasses - kFirstMathSymbol));
            draw_math_symbol(cls, derive_key({config.seed, p.id, static_cast<uint64_t>(j)}), out);
            block.labels[static_cast<size_t>(i)] = cls;
          }
        }
        return;
      }
      for (int64_t i = 0; i < block.count; ++i) {
        const int64_t index = block.first_index + i;
        const double t = t_start + static_cast<double>(index) * interval;
        const double t_target = t + config.horizon_s;
        switch (config.kind) {
          case Kind::kSolarMaps: {
            const int n = config.map_size;
            float* dst = block.samples_f32.data() + i * n * n;
            for (int h = 0; h < n; ++h) {
              for (int w = 0; w < n; ++w) {
                dst[h * n + w] =
                    static_cast<float>(sky->reading((w + 0.5) / n, (h + 0.5) / n, t, static_cast<uint64_t>(h * n + w)));
              }
            }
            block.targets[static_cast<size_t>(i)] =
                static_cast<float>(sky->reading(0.5, 0.5, t_target, static_cast<uint64_t>(n * n)));
            break;
          }
          case Kind::kSolarTable: {
            float* dst = block.samples_f32.data() + i * config.sensors;
            for (int s = 0; s < config.sensors; ++s) {
              const auto [x, y] = sensors[static_cast<size_t>(s)];
              dst[s] = static_cast<float>(sky->reading(x, y, t, static_cast<uint64_t>(s)));
            }
            const auto [x, y] = sensors[static_cast<size_t>(config.target_sensor)];
            block.targets[static_cast<size_t>(i)] =
                static_cast<float>(sky->reading(x, y, t_target, static_cast<uint64_t>(config.target_sensor)));
            break;
          }
          case Kind::kCircuits: {
            const int64_t pixels = int64_t{config.image_size} * config.image_size;
            const auto symbol = static_cast<Symbol>(index % kNumSymbols);
            draw_symbol(symbol, derive_key({config.seed, p.id, static_cast<uint64_t>(index)}), style,
                        block.samples_u8.subspan(static_cast<size_t>(i * pixels), static_cast<size_t>(pixels)));
            block.labels[static_cast<size_t>(i)] = static_cast<int32_t>(symbol);
            break;
          }
          case Kind::kMathSymbols: break;  // filled above
        }
      }
    };
    write_split(staging.path(), m, p.name, count, options, fill, [&log, &p](int64_t done, int64_t total) {
      log.progress(cat("synth ", p.name, ": ", done, "/", total, " samples"));
    });
    log.end_progress();
  }
  save_manifest(staging.path(), m);
  staging.commit();
  return m;
}

}  // namespace hpcnn::data::synth
