// hpcnn-merge summary's memory breakdown (issue 30): metrics.json is input,
// so what is not a rank with numbers is left out, never a throw.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "summary.hpp"

using hpcnn::merge::memory_from_metrics;
using nlohmann::json;

TEST_CASE("memory_from_metrics keeps each rank's numeric parts and drops the rest", "[merge][memory]") {
  const json metrics = json::parse(R"({"ranks": [
      {"rank": 0, "peak_rss_mb": 3.0, "memory": {"weights_bytes": 400, "optimizer_state_bytes": 800,
                                                 "other_bytes": null, "device": "gpu", "gradients_bytes": "x"}},
      {"rank": 1, "peak_rss_mb": 3.0},
      {"rank": "two", "memory": {"weights_bytes": 1}},
      {"rank": 3, "memory": [1, 2]},
      7,
      {"rank": 4, "memory": {"weights_bytes": 5.5e9, "peak_rss_bytes": 6e9}}]})");
  const json m = memory_from_metrics(metrics);
  REQUIRE(m.size() == 2);
  CHECK(m[0] == json::parse(R"({"rank": 0, "weights_bytes": 400, "optimizer_state_bytes": 800})"));
  CHECK(m[1]["rank"] == 4);
  CHECK(m[1]["peak_rss_bytes"].get<double>() == 6e9);
}

TEST_CASE("the summary shows the memory a checkpoint held as its own column, n/a for older metrics.json",
          "[merge][memory]") {
  const json metrics = json::parse(R"({"ranks": [
      {"rank": 0, "memory": {"weights_bytes": 1048576, "checkpoint_bytes": 2097152, "other_bytes": 0}},
      {"rank": 1, "memory": {"weights_bytes": 1048576, "other_bytes": 0}}]})");
  hpcnn::merge::RunSummary s;
  s.run = "r";
  s.memory = memory_from_metrics(metrics);
  REQUIRE(s.memory.size() == 2);
  CHECK(s.memory[0]["checkpoint_bytes"] == 2097152);
  CHECK(hpcnn::merge::summary_json(s)["memory"][0]["checkpoint_bytes"] == 2097152);
  const std::string md = hpcnn::merge::summary_markdown(s);
  CHECK_THAT(md, Catch::Contains("| communication MB | checkpoint MB | other MB | peak RSS MB |"));
  CHECK_THAT(md, Catch::Contains("| 0 | 1.0 | n/a | n/a | n/a | n/a | 2.0 | 0.0 | n/a |"));
  CHECK_THAT(md, Catch::Contains("| 1 | 1.0 | n/a | n/a | n/a | n/a | n/a | 0.0 | n/a |"));  // an older file
}

TEST_CASE("memory_from_metrics of a metrics.json without ranks is empty", "[merge][memory]") {
  for (const char* text : {"{}", "[]", "3", R"({"ranks": {}})", R"({"ranks": null})"}) {
    INFO(text);
    CHECK(memory_from_metrics(json::parse(text)).empty());
  }
}

TEST_CASE("the summary report shows the memory breakdown as one row per rank in MB", "[merge][memory]") {
  hpcnn::merge::RunSummary s;
  s.run = "r";
  s.memory = json::parse(R"([{"rank": 0, "weights_bytes": 1048576, "optimizer_state_bytes": 3145728}])");
  const std::string md = hpcnn::merge::summary_markdown(s);
  CHECK_THAT(md, Catch::Contains("| rank | weights MB | gradients MB | optimizer state MB"));
  CHECK_THAT(md, Catch::Contains("| 0 | 1.0 | n/a | 3.0 | n/a | n/a | n/a | n/a | n/a |"));
  CHECK(hpcnn::merge::summary_json(s)["memory"][0]["optimizer_state_bytes"] == 3145728);
}
