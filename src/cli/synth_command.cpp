// hpcnn data synth KIND.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/option_groups.hpp"
#include "cli/options.hpp"
#include "data/inspect.hpp"
#include "data/synth/generate.hpp"

namespace hpcnn::cli {

int run_data_synth(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn data synth";
  spec.positional_usage = "KIND";
  spec.summary =
      "Generate a deterministic synthetic dataset (same seed => identical shards):\n"
      "  solar-maps   50x50 irradiance maps of moving cloud shadows; target: centre sensor 10 s later\n"
      "  solar-table  50 sensor readings per row; target: one sensor 10 s later\n"
      "  circuits     64x64 schematic symbols (resistor, capacitor, inductor, voltage source), balanced\n"
      "  math-symbols 28x28 digits from --digits DIR plus generated + - \\times \\div = ( ) . x y (--train etc.\n"
      "               count the generated symbols); --test-digits DIR: held-out digits by other writers";
  spec.details =
      "Examples:\n"
      "  hpcnn data synth circuits --train 8000 --test 2000 --shards 4\n"
      "  hpcnn data synth solar-maps --out datasets/solar --seed 7";
  std::string kind_text, out, digits, test_digits;
  long long train = -1, validation = 0, test = -1;
  std::string seed = "42";
  data::synth::SynthConfig config;
  po::options_description common_opts("Options", 100, 50), solar("solar-maps / solar-table", 100, 50),
      circuits("circuits", 100, 50);
  // clang-format off
  spec.options.add_options()
      ("kind", po::value<std::string>(&kind_text)->required()->value_name("KIND"), "solar-maps | solar-table | circuits | math-symbols (positional)")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"), "output dataset directory [datasets/KIND]")
      ("train", po::value<long long>(&train)->default_value(-1), "training samples (-1: 20000 maps, 100000 rows, 8000 symbols)")
      ("validation", po::value<long long>(&validation)->default_value(0), "validation samples")
      ("test", po::value<long long>(&test)->default_value(-1), "test samples (-1: 2000 maps, 10000 rows, 2000 symbols)")
      ("seed", po::value<std::string>(&seed)->default_value(seed), "random seed")
      ("deflate", po::value<int>(&config.deflate_level)->default_value(0), "gzip level for shard chunks (0 = none)")
      ("force", po::bool_switch(&config.force),
       "replace an existing output directory")
      ("horizon", po::value<double>(&config.horizon_s)->default_value(10.0), "solar: seconds ahead of the target")
      ("interval", po::value<double>(&config.interval_s)->default_value(0.0),
       "solar: seconds between samples (0: 5 for maps, 1 for the table)")
      ("map-size", po::value<int>(&config.map_size)->default_value(50), "solar-maps: map side in sensors")
      ("sensors", po::value<int>(&config.sensors)->default_value(50), "solar-table: features per row")
      ("target-sensor", po::value<int>(&config.target_sensor)->default_value(0), "solar-table: sensor to predict")
      ("wind-spread", po::value<double>(&config.wind_spread_deg)->default_value(180.0)->value_name("DEG"),
       "solar: each wind regime within +-DEG of a prevailing wind (180: any direction; then a snapshot of the\n"
       "sensors cannot tell where shadows go, and no model does much better than a linear fit)")
      ("image-size", po::value<int>(&config.image_size)->default_value(64), "circuits: image side in pixels")
      ("noise", po::value<double>(&config.max_noise)->default_value(12.0), "circuits: largest pixel-noise std (grey levels)")
      ("digits", po::value<std::string>(&digits)->value_name("DIR"), "math-symbols: 28x28 handwritten digits (each split)")
      ("test-digits", po::value<std::string>(&test_digits)->value_name("DIR"), "math-symbols: the test split's digits (all of DIR)")
      ("digit-copies", po::value<int>(&config.digit_copies)->default_value(0)->value_name("N"),
       "math-symbols: N elastic distortions of each training digit, added to the training split");
  // clang-format on
  spec.positional.add("kind", 1);
  add_shards_option(spec.options, config.shards);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  config.kind = data::synth::parse_kind(kind_text);
  const auto [default_train, default_test] = data::synth::default_counts(config.kind);
  config.train = train < 0 ? default_train : train;
  config.test = test < 0 ? default_test : test;
  config.validation = validation;
  config.seed = parse_seed(seed);
  config.digits = digits;
  config.test_digits = test_digits;
  require_range<long long>("train", config.train, 1, 100'000'000);
  require_range<long long>("validation", config.validation, 0, 100'000'000);
  require_range<long long>("test", config.test, 0, 100'000'000);
  require_range<int>("digit-copies", config.digit_copies, 0, 100);
  check_shards(config.shards);
  require_range("deflate", config.deflate_level, 0, 9);
  require_range("horizon", config.horizon_s, 0.0, 3600.0);
  require_range("interval", config.interval_s, 0.0, 3600.0);
  require_range("map-size", config.map_size, 2, 1024);
  require_range("sensors", config.sensors, 1, 100000);
  require_range("target-sensor", config.target_sensor, 0, config.sensors - 1);
  require_range("wind-spread", config.wind_spread_deg, 0.0, 180.0);
  require_range("image-size", config.image_size, 8, 1024);
  require_range("noise", config.max_noise, 0.0, 128.0);
  config.out = out.empty() ? std::filesystem::path("datasets") / data::synth::kind_name(config.kind)
                           : std::filesystem::path(out);
  const Logger log(common.log_level());
  data::synth::generate(config, log);
  log.info("wrote " + config.out.string());
  std::cout << data::inspect_dataset(config.out).to_text();
  return 0;
}

}  // namespace hpcnn::cli
