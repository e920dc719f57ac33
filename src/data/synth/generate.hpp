// `hpcnn data synth`: deterministic synthetic datasets standing in for the
// seeds' data that is not public here (see SEEDS.md):
//
//   solar-maps   (1, S, S) float32 irradiance maps of the sensor field at time
//                t; target: the centre sensor's reading at t + horizon (kW/m^2).
//   solar-table  (F, 1, 1) float32 readings of F sensors at time t; target:
//                sensor `target_sensor` at t + horizon.
//   circuits     (1, S, S) uint8 schematic symbols, 4 balanced classes.
//   math-symbols (1, 28, 28) uint8 glyphs of handwritten arithmetic, 20
//                classes: the digits 0-9 copied from a real handwritten set
//                (`digits`), + - \times \div = ( ) . x y generated as pen
//                strokes (math_symbols.hpp), all framed like MNIST.
//
// Same seed and parameters => byte-identical shards, whatever the shard count
// (sample i depends on (seed, split, i) only). The solar splits are disjoint
// stretches of one simulated day: train, then validation, then test, with a
// gap between them so no test horizon overlaps training time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/log.hpp"
#include "data/dataset.hpp"

namespace hpcnn::data::synth {

enum class Kind { kSolarMaps, kSolarTable, kCircuits, kMathSymbols };
Kind parse_kind(const std::string& text);  ///< throws UsageError
const char* kind_name(Kind kind);

struct SynthConfig {
  Kind kind = Kind::kCircuits;
  std::filesystem::path out;
  int64_t train = 0, validation = 0, test = 0;
  uint64_t seed = 42;
  int shards = 1;
  int deflate_level = 0;
  bool force = false;
  // solar-*
  double horizon_s = 10.0;  ///< how far ahead the target is
  double interval_s = 0.0;  ///< seconds between samples (0: 5 for maps, 1 for the table)
  int map_size = 50;
  int sensors = 50;
  int target_sensor = 0;
  double wind_spread_deg = 180.0;  ///< >= 180: any wind direction; less: within this of a prevailing wind
  // circuits
  int image_size = 64;
  double max_noise = 12.0;
  // math-symbols: the digits of each split are those of the same split of
  // `digits` (a 10-class 28x28 uint8 dataset, e.g. mnist5k); with
  // `test_digits`, the test split's digits are every sample of that dataset
  // instead (other writers), reframed like MNIST. The generated symbols of a
  // split number train/validation/test (default 3600 train, 1000 test).
  // Without `digits` the dataset holds the generated symbols only (classes
  // 0-9 stay in the class list with no samples: for tests without a digit set).
  std::filesystem::path digits, test_digits;
  // math-symbols: each training digit is followed by this many elastic
  // distortions of it (elastic_digit, keyed by seed, index and copy); the
  // validation and test splits keep their digits as they are.
  int digit_copies = 0;
};

/// Default sample counts per kind (train, test).
std::pair<int64_t, int64_t> default_counts(Kind kind);

/// Generates the dataset into config.out (atomically) and returns its manifest.
Manifest generate(const SynthConfig& config, const Logger& log);

}  // namespace hpcnn::data::synth
