// Synthetic dataset assembly: manifests and block fillers per kind.
#include "data/synth/generate.hpp"

#include <cmath>
#include <numbers>
#include <optional>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/rng.hpp"
#include "data/synth/circuits.hpp"
#include "data/synth/sky.hpp"

namespace hpcnn::data::synth {

Kind parse_kind(const std::string& text) {
  if (text == "solar-maps") return Kind::kSolarMaps;
  if (text == "solar-table") return Kind::kSolarTable;
  if (text == "circuits") return Kind::kCircuits;
  throw UsageError("unknown synthetic dataset '" + text + "' (expected solar-maps, solar-table or circuits)");
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kSolarMaps: return "solar-maps";
    case Kind::kSolarTable: return "solar-table";
    case Kind::kCircuits: return "circuits";
  }
  return "unknown";
}

std::pair<int64_t, int64_t> default_counts(Kind kind) {
  switch (kind) {
    case Kind::kSolarMaps: return {20000, 2000};
    case Kind::kSolarTable: return {100000, 10000};
    case Kind::kCircuits: return {8000, 2000};
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
}  // namespace

Manifest generate(const SynthConfig& config, const Logger& log) {
  if (config.force) require_replaceable_dataset(config.out);
  const bool solar = config.kind != Kind::kCircuits;
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
  }
  // Recorded only when not the default, so default manifests stay as they were.
  if (config.kind != Kind::kCircuits && config.wind_spread_deg < 180.0) gen["wind_spread_deg"] = config.wind_spread_deg;
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

  StagingDir staging(config.out, config.force);
  WriteOptions options;
  options.num_shards = config.shards;
  options.deflate_level = config.deflate_level;
  options.block_samples = 1024;
  for (size_t k = 0; k < std::size(plan); ++k) {
    const SplitPlan& p = plan[k];
    if (p.count == 0) continue;
    const double t_start = split_start[k];
    BlockFiller fill = [&, p, t_start](SampleBlock& block) {
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
        }
      }
    };
    write_split(staging.path(), m, p.name, p.count, options, fill, [&log, &p](int64_t done, int64_t total) {
      log.progress(cat("synth ", p.name, ": ", done, "/", total, " samples"));
    });
    log.end_progress();
  }
  save_manifest(staging.path(), m);
  staging.commit();
  return m;
}

}  // namespace hpcnn::data::synth
