// Command-line parsing: unknown options, bad values, INI config files.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "fixtures.hpp"

using namespace hpcnn;
using namespace hpcnn::cli;

namespace {
struct Toy {
  int shards = 0;
  double fraction = 0;
  std::string name;
};

CommandSpec toy_spec(Toy& t) {
  CommandSpec spec;
  spec.name = "hpcnn toy";
  // clang-format off
  spec.options.add_options()
      ("shards", po::value<int>(&t.shards)->default_value(1), "shards")
      ("fraction", po::value<double>(&t.fraction)->default_value(0.5), "fraction")
      ("name", po::value<std::string>(&t.name)->default_value("x"), "name");
  // clang-format on
  return spec;
}

bool parse_toy(Toy& t, const Args& args) {
  CommandSpec spec = toy_spec(t);
  CommonConfig common;
  Args quiet_args = args;
  if (std::find(args.begin(), args.end(), "-q") == args.end()) quiet_args.push_back("--quiet");
  return parse(spec, quiet_args, common);
}
}  // namespace

TEST_CASE("CLI: options and defaults", "[cli]") {
  Toy t;
  REQUIRE(parse_toy(t, {"--shards", "4", "--name=abc", "-q"}));
  CHECK(t.shards == 4);
  CHECK(t.fraction == 0.5);
  CHECK(t.name == "abc");
}

TEST_CASE("CLI: unknown options and bad values are usage errors naming the option", "[cli][bad-input]") {
  Toy t;
  CHECK_THROWS_WITH(parse_toy(t, {"--shard", "4"}), Catch::Contains("--shard"));
  CHECK_THROWS_AS(parse_toy(t, {"--bogus"}), UsageError);
  CHECK_THROWS_WITH(parse_toy(t, {"--shards", "four"}), Catch::Contains("shards"));
  CHECK_THROWS_AS(parse_toy(t, {"--shards"}), UsageError);
  CHECK_THROWS_WITH(require_range("shards", 0, 1, 10), Catch::Contains("--shards must be between 1 and 10 (got 0)"));
}

TEST_CASE("CLI: INI config files, command line wins", "[cli]") {
  test::ScratchDir dir("cli");
  const auto ini = dir / "run.ini";
  std::ofstream(ini) << "# a comment\nshards = 8\nfraction = 0.25\n";
  Toy t;
  REQUIRE(parse_toy(t, {"--config", ini.string(), "--shards", "2"}));
  CHECK(t.shards == 2);
  CHECK(t.fraction == 0.25);

  std::ofstream(dir / "bad.ini") << "shardz = 3\n";
  Toy u;
  CHECK_THROWS_WITH(parse_toy(u, {"--config", (dir / "bad.ini").string()}), Catch::Contains("shardz"));
  CHECK_THROWS_WITH(parse_toy(u, {"--config", (dir / "none.ini").string()}), Catch::Contains("cannot open"));
}

TEST_CASE("CLI: the effective configuration is INI that parses back", "[cli]") {
  Toy t;
  CommandSpec spec = toy_spec(t);
  CommonConfig common;
  REQUIRE(parse(spec, {"--shards", "3", "--name", "zz", "-q"}, common));
  po::variables_map vm;
  po::store(po::command_line_parser(Args{"--shards", "3", "--name", "zz"}).options(spec.options).run(), vm);
  const std::string echoed = effective_config(spec, vm);
  CHECK_THAT(echoed,
             Catch::Contains("shards = 3") && Catch::Contains("name = zz") && Catch::Contains("fraction = 0.5"));
  test::ScratchDir dir("cli-echo");
  std::ofstream(dir / "echo.ini") << echoed;
  Toy back;
  REQUIRE(parse_toy(back, {"--config", (dir / "echo.ini").string()}));
  CHECK(back.shards == 3);
  CHECK(back.name == "zz");
}

TEST_CASE("CLI: unknown commands are usage errors", "[cli][bad-input]") {
  CHECK_THROWS_WITH(dispatch({"trian"}), Catch::Contains("unknown command 'trian'"));
  CHECK_THROWS_WITH(dispatch({"data", "imprt"}), Catch::Contains("hpcnn data imprt"));
  CHECK(dispatch({"--help"}) == 0);
}

TEST_CASE("CLI: a switch never swallows the positional argument after it", "[cli]") {
  CommandSpec spec;
  spec.name = "hpcnn toy";
  std::string dir;
  // clang-format off
  spec.options.add_options()("dir", po::value<std::string>(&dir)->required(), "dir");
  // clang-format on
  spec.positional.add("dir", 1);
  CommonConfig common;
  REQUIRE(parse(spec, {"-q", "some/dir"}, common));
  CHECK(common.quiet);
  CHECK(dir == "some/dir");
}

TEST_CASE("CLI: the data commands refuse a negative --seed instead of wrapping it to 2^64 - 1", "[cli][bad-input]") {
  // Boost parsed --seed -1 into an unsigned long as 18446744073709551615;
  // `hpcnn train` refused it, `hpcnn data ...` ran with it.
  test::ScratchDir dir("seed");
  const std::string out = (dir / "never").string();
  const std::vector<std::vector<std::string>> commands = {
      {"data", "synth", "circuits", "-q", "--train", "4", "--test", "4", "--out", out, "--seed", "-1"},
      {"data", "import-npz", (dir / "missing.npz").string(), "-q", "--out", out, "--seed", "-1"},
      {"data", "import-images", (dir / "missing").string(), "-q", "--out", out, "--seed=-1"},
      {"data", "augment", (dir / "missing").string(), "-q", "--out", (dir / "grid.png").string(), "--seed", "-1"},
  };
  for (const auto& args : commands) {
    INFO(args[1]);
    CHECK_THROWS_AS(dispatch(args), UsageError);
    CHECK_THROWS_WITH(dispatch(args),
                      Catch::Contains("--seed must be a whole number from 0 to 18446744073709551615 (got '-1')"));
  }
  CHECK(!std::filesystem::exists(out));
  CHECK(parse_seed("0") == 0);
  CHECK(parse_seed("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "+1", "-0", "1.5", "18446744073709551616", " 7", "7 "}) {
    CHECK_THROWS_AS(parse_seed(bad), UsageError);
  }
}
