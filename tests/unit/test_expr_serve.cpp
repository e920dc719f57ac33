// POST /transcribe and GET /katex/ as plain functions (no sockets): the
// answer's shape, the limits and errors /predict has, and the file checks.
#include <catch2/catch.hpp>
#include <fstream>

#include "data/dataset.hpp"
#include "model/model.hpp"
#include "serve/predictor.hpp"
#include "serve/service.hpp"
#include "serve/transcribe.hpp"
#include "serve_fixtures.hpp"
#include "test_helpers.hpp"
#include "train/checkpoint.hpp"

using namespace hpcnn;
using namespace hpcnn::serve;

namespace {
/// An untrained tiny-cnn whose classes are named like the digits of math-symbols.
struct DigitModel : test::TinyClassifier {
  DigitModel() : TinyClassifier("digits", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}) {}
};

/// JSON pixels of a white picture with black blocks [x0, y0, x1, y1).
std::string picture_json(int w, int h, const std::vector<std::array<int, 4>>& blocks) {
  std::vector<int> px(static_cast<size_t>(w * h), 255);
  for (const auto& [x0, y0, x1, y1] : blocks) {
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) px[static_cast<size_t>(y * w + x)] = 0;
    }
  }
  return nlohmann::json{{"width", w}, {"height", h}, {"pixels", px}}.dump();
}
}  // namespace

TEST_CASE("Transcribe: one glyph per mark, left to right, with boxes and top-k alternatives", "[expr][serve]") {
  DigitModel tiny;
  Predictor predictor(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  const PredictService service(predictor, test::service_config(tiny.ckpt));
  const std::string body = picture_json(200, 60, {{150, 10, 160, 50}, {10, 10, 40, 50}, {80, 20, 110, 40}});
  const Reply r = service.transcribe(body, "application/json", {{"top_k", "2"}});
  REQUIRE(r.status == 200);
  const nlohmann::json j = nlohmann::json::parse(r.body);
  CHECK(j["format"] == "hpcnn-transcription");
  CHECK(j["inverted"] == true);
  REQUIRE(j["glyphs"].size() == 3);
  CHECK(j["glyphs"][0]["box"] == nlohmann::json{10, 10, 30, 40});
  CHECK(j["glyphs"][1]["box"] == nlohmann::json{80, 20, 30, 20});
  CHECK(j["glyphs"][2]["box"] == nlohmann::json{150, 10, 10, 40});
  std::string joined;
  for (const auto& g : j["glyphs"]) {
    CHECK(g["alternatives"].size() == 2);
    CHECK(g["alternatives"][0]["probability"] >= g["alternatives"][1]["probability"]);
    joined += g["latex"].get<std::string>();
  }
  CHECK(j["latex"] == joined);  // digits are written together
}

TEST_CASE("Transcribe: the limits and errors of predict apply", "[expr][serve][bad-input]") {
  DigitModel tiny;
  Predictor predictor(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  ServiceConfig config = test::service_config(tiny.ckpt);
  config.max_body_bytes = 64 * 1024;
  const PredictService service(predictor, config);
  const std::string one = picture_json(40, 40, {{10, 10, 20, 30}});
  CHECK(service.transcribe("", "image/png", {}).status == 400);
  CHECK(service.transcribe("hello", "text/plain", {}).status == 415);
  CHECK(service.transcribe("not a png", "image/png", {}).status == 400);
  CHECK(service.transcribe(std::string(70 * 1024, 'x'), "image/png", {}).status == 413);
  CHECK(service.transcribe(one, "application/json", {{"top_k", "0"}}).status == 400);
  CHECK(service.transcribe(one, "application/json", {{"top_k", "11"}}).status == 400);
  CHECK(service.transcribe(picture_json(40, 40, {}), "application/json", {}).status == 422);
  // 65 marks: more glyphs than one expression may have.
  std::vector<std::array<int, 4>> marks;
  for (int i = 0; i <= kMaxGlyphs; ++i) marks.push_back({4 + 6 * i, 10, 7 + 6 * i, 30});
  const Reply many = service.transcribe(picture_json(6 * (kMaxGlyphs + 2), 40, marks), "application/json", {});
  CHECK(many.status == 422);
  CHECK(many.body.find("glyphs") != std::string::npos);
}

TEST_CASE("KaTeX files: plain names inside the folder only", "[expr][serve]") {
  DigitModel tiny;
  Predictor predictor(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  test::ScratchDir dir("katex");
  std::filesystem::create_directories(dir / "k" / "fonts");
  std::ofstream(dir / "k" / "katex.min.js") << "var katex;";
  std::ofstream(dir / "k" / "fonts" / "KaTeX_Main-Regular.woff2") << "font";
  std::ofstream(dir / "k" / "notes.txt") << "no";
  std::ofstream(dir / "secret.js") << "outside";
  ServiceConfig config;
  config.class_names = tiny.ckpt.class_names;
  const PredictService without(predictor, config);
  CHECK(without.asset("/katex/katex.min.js").status == 404);  // no folder configured
  config.katex_dir = (dir / "k").string();
  const PredictService service(predictor, config);
  const Reply js = service.asset("/katex/katex.min.js");
  CHECK(js.status == 200);
  CHECK(js.content_type == "application/javascript");
  CHECK(js.body == "var katex;");
  CHECK(service.asset("/katex/fonts/KaTeX_Main-Regular.woff2").content_type == "font/woff2");
  CHECK(service.asset("/katex/../secret.js").status == 404);
  CHECK(service.asset("/katex/..%2Fsecret.js").status == 404);
  CHECK(service.asset("/katex/fonts/../../secret.js").status == 404);
  CHECK(service.asset("/katex/.hidden.js").status == 404);
  CHECK(service.asset("/katex/notes.txt").status == 404);  // not a KaTeX file type
  CHECK(service.asset("/katex/missing.js").status == 404);
  CHECK(service.asset("/katex/").status == 404);
}
