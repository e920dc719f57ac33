// Fuzzes INI config files (cli/options.cpp, --config FILE): the text goes
// through parse_config_stream against options of every type the commands
// use, then the checks parse() applies (notify, finite floating-point
// values). Seeds: config files as the effective-configuration echo writes them.
#include <sstream>

#include "cli/options.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  namespace po = cli::po;
  int epochs = 0;
  long long batch = 0;
  unsigned long seed = 0;
  double lr = 0;
  bool force = false;
  std::string model, out;
  cli::CommandSpec spec;
  spec.name = "hpcnn fuzz";
  // clang-format off
  spec.options.add_options()
      ("epochs,e", po::value<int>(&epochs)->default_value(1), "")
      ("batch", po::value<long long>(&batch)->default_value(128), "")
      ("seed", po::value<unsigned long>(&seed)->default_value(42), "")
      ("lr", po::value<double>(&lr)->default_value(0.001), "")
      ("model", po::value<std::string>(&model)->required(), "")
      ("out", po::value<std::string>(&out), "")
      ("force", po::bool_switch(&force), "");
  // clang-format on
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  fuzz::expect_clean([&] {
    po::variables_map vm;
    cli::parse_config_stream(spec, in, "fuzz.ini", vm);
    try {
      po::notify(vm);
    } catch (const po::error& e) {
      throw UsageError(e.what());  // what parse() does
    }
    cli::require_finite(vm);
    (void)cli::effective_config(spec, vm);
  });
  return 0;
}
