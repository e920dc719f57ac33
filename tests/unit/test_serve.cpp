// hpcnn predict / serve: PNG decoding, the preprocessing of drawings against
// the training data's own path (IDX import -> HDF5 -> SplitReader), the
// batching predictor, and every answer of the /predict endpoint, without
// sockets and then over a real localhost socket.
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <thread>

// After catch.hpp: httplib.h defines macros that must not leak into it.
#include <httplib.h>

#include "core/log.hpp"
#include "data/dataset.hpp"
#include "data/import_idx.hpp"
#include "fixtures.hpp"
#include "model/model.hpp"
#include "serve/http_server.hpp"
#include "serve/image.hpp"
#include "serve/predictor.hpp"
#include "serve/preprocess.hpp"
#include "serve/service.hpp"
#include "serve_fixtures.hpp"
#include "train/checkpoint.hpp"

using namespace hpcnn;
using namespace hpcnn::serve;

namespace {
using test::kQuiet;

/// A training-like 28x28 sample: black background, a bright textured object
/// 28 rows tall and 20 columns wide (columns 4..23), values 40..255.
std::vector<uint8_t> object_sample(int i) {
  std::vector<uint8_t> px(28 * 28, 0);
  for (int y = 0; y < 28; ++y) {
    for (int x = 4; x < 24; ++x) {
      // A shape that narrows towards the top, so the centre of mass is not the box centre.
      if (y < 10 && (x < 4 + (10 - y) || x >= 24 - (10 - y) / 2)) continue;
      px[static_cast<size_t>(y * 28 + x)] = static_cast<uint8_t>(40 + (i * 37 + y * 7 + x * 5) % 216);
    }
  }
  return px;
}

GreyImage grey(int64_t w, int64_t h, std::vector<uint8_t> px) { return GreyImage{w, h, std::move(px)}; }

/// The sample as a person would draw it: dark on white paper, `scale` times
/// larger (nearest), placed at (left, top) of a canvas_w x canvas_h page.
GreyImage drawing_of(const std::vector<uint8_t>& sample, int scale, int left, int top, int canvas_w, int canvas_h) {
  GreyImage page = grey(canvas_w, canvas_h, std::vector<uint8_t>(static_cast<size_t>(canvas_w * canvas_h), 255));
  for (int y = 0; y < 28 * scale; ++y) {
    for (int x = 0; x < 28 * scale; ++x) {
      page.pixels[static_cast<size_t>((top + y) * canvas_w + left + x)] =
          static_cast<uint8_t>(255 - sample[static_cast<size_t>((y / scale) * 28 + x / scale)]);
    }
  }
  return page;
}

/// An RGBA PNG (libpng's simplified writer): how a browser's canvas arrives.
std::string rgba_png(int64_t w, int64_t h, const std::vector<uint8_t>& rgba) {
  png_image info;
  std::memset(&info, 0, sizeof info);
  info.version = PNG_IMAGE_VERSION;
  info.width = static_cast<png_uint_32>(w);
  info.height = static_cast<png_uint_32>(h);
  info.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  REQUIRE(png_image_write_get_memory_size(info, size, 0, rgba.data(), 0, nullptr) != 0);
  std::string out(size, '\0');
  REQUIRE(png_image_write_to_memory(&info, out.data(), &size, 0, rgba.data(), 0, nullptr) != 0);
  out.resize(size);
  return out;
}

std::string be32(uint32_t v) {
  std::string out;
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xff);
  return out;
}

/// One PNG chunk: length, type, data, CRC of type and data.
std::string png_chunk(const std::string& type_and_data) {
  const auto crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const unsigned char*>(type_and_data.data()),
                                               static_cast<unsigned>(type_and_data.size())));
  return be32(static_cast<uint32_t>(type_and_data.size() - 4)) + type_and_data + be32(crc);
}

/// A small PNG whose header claims w x h pixels (its image data is a stub).
std::string png_claiming(uint32_t w, uint32_t h) {
  const std::string ihdr = "IHDR" + be32(w) + be32(h) + std::string{8, 0, 0, 0, 0};  // 8-bit grey
  return "\x89PNG\r\n\x1a\n" + png_chunk(ihdr) + png_chunk("IDAT\x78\x01") + png_chunk("IEND");
}

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return e.http_status();
  }
  return 0;
}

/// A small untrained classifier of 1x28x28 images with its checkpoint loaded.
struct TinyModel : test::TinyClassifier {
  TinyModel()
      : TinyClassifier("toy", {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}) {}
};
using test::service_config;

nlohmann::json body_json(const Reply& r) { return nlohmann::json::parse(r.body); }
}  // namespace

TEST_CASE("PNG: grey round trip, colour to luma, alpha onto white", "[serve][png]") {
  const std::vector<uint8_t> sample = object_sample(3);
  const GreyImage back = decode_png(encode_png(grey(28, 28, sample)), 1 << 20);
  CHECK(back.width == 28);
  CHECK(back.height == 28);
  CHECK(back.pixels == sample);

  // Pixels: opaque red, opaque grey 77, transparent black, half-transparent black.
  const GreyImage c = decode_png(rgba_png(4, 1, {255, 0, 0, 255, 77, 77, 77, 255, 0, 0, 0, 0, 0, 0, 0, 128}), 100);
  CHECK(c.pixels == std::vector<uint8_t>{76, 77, 255, 127});  // 0.299 * 255 = 76.2; paper shows through
}

TEST_CASE("PNG: not a PNG, truncated, too large", "[serve][png][bad-input]") {
  const std::string png = encode_png(grey(28, 28, object_sample(1)));
  CHECK(status_of([] { decode_png("GIF89a....", 100); }) == 400);
  CHECK(status_of([] { decode_png("", 100); }) == 400);
  CHECK(status_of([&] { decode_png(png.substr(0, png.size() / 2), 1 << 20); }) == 400);
  CHECK(status_of([&] { decode_png(png.substr(0, 20), 1 << 20); }) == 400);
  std::string corrupt = png;
  const size_t idat = png.find("IDAT");
  REQUIRE(idat != std::string::npos);
  corrupt[idat + 8] = static_cast<char>(corrupt[idat + 8] ^ 0x55);  // image data: a CRC error
  CHECK(status_of([&] { decode_png(corrupt, 1 << 20); }) == 400);
  // 100000 x 100000 claimed in a 33-byte file: refused from the header, nothing allocated.
  CHECK(status_of([] { decode_png(png_claiming(100000, 100000), 4096LL * 4096); }) == 413);
  CHECK(status_of([&] { decode_png(png, 28 * 28 - 1); }) == 413);
  CHECK_THROWS_WITH(decode_png(png.substr(0, png.size() / 2), 1 << 20), Catch::Contains("truncated PNG"));
}

TEST_CASE("Preprocessing: a sample as a PNG reaches the model exactly as training reads it", "[serve][preprocess]") {
  // The training path: IDX files -> import_idx -> HDF5 shards -> SplitReader.
  test::ScratchDir dir("serve-idx");
  const int n = 4;
  std::vector<uint8_t> pixels, labels;
  for (int i = 0; i < n; ++i) {
    const std::vector<uint8_t> s = object_sample(i);
    pixels.insert(pixels.end(), s.begin(), s.end());
    labels.push_back(static_cast<uint8_t>(i));
  }
  test::write_bytes(dir / "images", test::make_idx(0x08, {n, 28, 28}, pixels));
  test::write_bytes(dir / "labels", test::make_idx(0x08, {n}, labels));
  data::ImportIdxConfig c;
  c.train_images = dir / "images";
  c.train_labels = dir / "labels";
  c.out = dir / "ds";
  c.name = "objects";
  c.num_classes = n;
  const data::Manifest m = data::import_idx(c, kQuiet);
  data::SplitReader reader(c.out, m, "train");
  data::Batch batch;
  const std::vector<int64_t> all{0, 1, 2, 3};
  reader.read(all, batch);

  for (int i = 0; i < n; ++i) {
    INFO("sample " << i);
    const std::vector<float> trained(batch.samples.begin() + i * 784, batch.samples.begin() + (i + 1) * 784);
    const GreyImage png = decode_png(encode_png(grey(28, 28, object_sample(i))), 1 << 20);
    for (const Framing f : {Framing::kNone, Framing::kFill}) {
      INFO("framing " << framing_name(f));
      const Preprocessed p = preprocess(png, f, 28, 28);
      CHECK_FALSE(p.inverted);  // bright object on black: as is
      CHECK(p.image.pixels == object_sample(i));
      CHECK(p.input == trained);  // bit for bit
    }
    // Drawn: dark on white, 10x larger, off-centre on a bigger page.
    const Preprocessed d = preprocess(drawing_of(object_sample(i), 10, 37, 91, 500, 400), Framing::kFill, 28, 28);
    CHECK(d.inverted);
    CHECK(d.input == trained);
  }
}

TEST_CASE("Preprocessing: polarity, framing, blank pictures", "[serve][preprocess]") {
  const std::vector<uint8_t> sample = object_sample(2);
  SECTION("mnist framing: longer side 20 pixels, centre of mass at the centre") {
    const Preprocessed p = preprocess(drawing_of(sample, 7, 10, 20, 300, 250), Framing::kMnist, 28, 28);
    int64_t x0 = 28, x1 = 0, y0 = 28, y1 = 0;
    double mass = 0, mx = 0, my = 0;
    for (int64_t y = 0; y < 28; ++y) {
      for (int64_t x = 0; x < 28; ++x) {
        const double v = p.image.at(x, y);
        mass += v;
        mx += v * (static_cast<double>(x) + 0.5);
        my += v * (static_cast<double>(y) + 0.5);
        if (v >= kInkThreshold) {
          x0 = std::min(x0, x), x1 = std::max(x1, x + 1), y0 = std::min(y0, y), y1 = std::max(y1, y + 1);
        }
      }
    }
    CHECK(y1 - y0 >= 20);  // the longer side (the sample is 28 tall, 20 wide), give or take
    CHECK(y1 - y0 <= 21);  // an edge row partly covered
    CHECK(std::abs(mx / mass - 14.0) < 0.5);
    CHECK(std::abs(my / mass - 14.0) < 0.5);
  }
  SECTION("a small drawing is scaled up to fill the input") {
    std::vector<uint8_t> px(100 * 100, 255);
    for (int y = 40; y < 60; ++y) px[static_cast<size_t>(y * 100 + 50)] = 0;  // a 1x20 vertical stroke
    const Preprocessed p = preprocess(grey(100, 100, px), Framing::kFill, 28, 28);
    CHECK(p.inverted);
    CHECK(p.image.at(13, 0) > 100);
    CHECK(p.image.at(14, 27) > 100);
    CHECK(p.image.at(0, 14) == 0);
  }
  SECTION("a transparent canvas with black strokes is dark ink on white") {
    std::vector<uint8_t> rgba(40 * 40 * 4, 0);  // transparent black everywhere
    for (int y = 5; y < 35; ++y) {
      for (int x = 18; x < 22; ++x) rgba[static_cast<size_t>((y * 40 + x) * 4 + 3)] = 255;  // opaque black stroke
    }
    const Preprocessed p = preprocess(decode_png(rgba_png(40, 40, rgba), 1 << 20), Framing::kFill, 28, 28);
    CHECK(p.inverted);
    CHECK(p.image.at(14, 14) == 255);
  }
  SECTION("blank pictures are refused with 422, light or dark") {
    CHECK(status_of([] { preprocess(grey(50, 40, std::vector<uint8_t>(2000, 255)), Framing::kFill, 28, 28); }) == 422);
    CHECK(status_of([] { preprocess(grey(50, 40, std::vector<uint8_t>(2000, 0)), Framing::kFill, 28, 28); }) == 422);
    // Faint marks below the ink threshold are not a drawing either.
    std::vector<uint8_t> faint(2000, 255);
    faint[1000] = 255 - (kInkThreshold - 1);
    CHECK(status_of([&] { preprocess(grey(50, 40, faint), Framing::kFill, 28, 28); }) == 422);
  }
  SECTION("one-pixel and one-row pictures") {
    CHECK(preprocess(grey(1, 1, {60}), Framing::kFill, 28, 28).image.at(14, 14) == 60);
    CHECK(preprocess(grey(3, 1, {0, 255, 0}), Framing::kNone, 28, 28).image.at(14, 0) == 255);
  }
  SECTION("framing names") {
    for (const FramingName& f : kFramings) CHECK(parse_framing(f.name) == f.framing);
    CHECK_THROWS_AS(parse_framing("centre"), UsageError);
    CHECK_THROWS_WITH(parse_framing("centre"), Catch::Contains("fill, mnist, none"));
  }
}

TEST_CASE("Predictor: concurrent callers get their own answers, batched", "[serve][predictor]") {
  const TinyModel tiny;
  Predictor predictor(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  REQUIRE(predictor.num_classes() == 10);
  std::vector<std::vector<float>> inputs;
  for (int i = 0; i < 24; ++i)
    inputs.push_back(preprocess(grey(28, 28, object_sample(i)), Framing::kNone, 28, 28).input);
  const std::vector<Prediction> alone = predictor.predict(inputs);
  REQUIRE(alone.size() == inputs.size());
  for (const Prediction& p : alone) {
    double sum = 0;
    for (double v : p.probabilities) sum += v;
    CHECK(sum == Approx(1.0).epsilon(1e-12));
  }
  std::vector<std::vector<Prediction>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 10; ++r) {
        const size_t i = static_cast<size_t>((t * 3 + r) % 24);
        got[static_cast<size_t>(t)].push_back(predictor.predict({inputs[i]}).front());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) {
    for (int r = 0; r < 10; ++r) {
      const size_t i = static_cast<size_t>((t * 3 + r) % 24);
      for (size_t k = 0; k < 10; ++k) {
        CHECK(got[static_cast<size_t>(t)][static_cast<size_t>(r)].probabilities[k] ==
              Approx(alone[i].probabilities[k]).margin(1e-6));
      }
    }
  }
  CHECK_THROWS_WITH(predictor.predict({std::vector<float>(10)}), Catch::Contains("(1, 28, 28)"));

  // JSON: top-k sorted, names attached, all probabilities in class order.
  const nlohmann::json j = alone[0].to_json(tiny.ckpt.class_names, 3);
  CHECK(j["top"].size() == 3);
  CHECK(j["top"][0]["class"] == j["class"]);
  CHECK(j["top"][0]["probability"] >= j["top"][1]["probability"]);
  CHECK(j["name"] == tiny.ckpt.class_names[j["class"].get<size_t>()]);
  CHECK(j["probabilities"].size() == 10);
}

TEST_CASE("Predictor: the folded inference graph answers as the training model does", "[serve][predictor]") {
  const TinyModel tiny;
  Predictor folded(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8, true});
  Predictor model(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8, false});
  Predictor reference(tiny.ckpt, {kernels::BackendKind::kReference, 1, 8, true});  // folding is oneDNN's only
  CHECK(folded.folded());
  CHECK_FALSE(model.folded());
  CHECK_FALSE(reference.folded());
  CHECK(folded.num_classes() == 10);
  std::vector<std::vector<float>> inputs;
  for (int i = 0; i < 12; ++i)
    inputs.push_back(preprocess(grey(28, 28, object_sample(i)), Framing::kNone, 28, 28).input);
  // One batch of 12 (a 12-glyph expression), then single inputs: each batch size has its own plan.
  for (const size_t n : {size_t{12}, size_t{1}}) {
    const std::vector<std::vector<float>> some(inputs.begin(), inputs.begin() + static_cast<std::ptrdiff_t>(n));
    const std::vector<Prediction> a = folded.predict(some), b = model.predict(some);
    REQUIRE(a.size() == n);
    for (size_t i = 0; i < n; ++i) {
      for (size_t k = 0; k < 10; ++k) CHECK(a[i].probabilities[k] == Approx(b[i].probabilities[k]).margin(1e-5));
    }
  }
}

TEST_CASE("Predictor: an ensemble answers the mean of its members' probabilities", "[serve][predictor]") {
  const TinyModel a;
  const test::TinyClassifier b("toy", a.ckpt.class_names, 6);
  Predictor alone_a(a.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  Predictor alone_b(b.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  Predictor both({&a.ckpt, &b.ckpt}, {kernels::BackendKind::kOnednn, 1, 8});
  CHECK(both.members() == 2);
  CHECK(alone_a.members() == 1);
  std::vector<std::vector<float>> inputs;
  for (int i = 0; i < 5; ++i)
    inputs.push_back(preprocess(grey(28, 28, object_sample(i)), Framing::kNone, 28, 28).input);
  const std::vector<Prediction> pa = alone_a.predict(inputs), pb = alone_b.predict(inputs), mean = both.predict(inputs);
  bool members_differ = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (size_t k = 0; k < 10; ++k) {
      CHECK(mean[i].probabilities[k] == Approx((pa[i].probabilities[k] + pb[i].probabilities[k]) / 2).margin(1e-12));
      members_differ = members_differ || std::abs(pa[i].probabilities[k] - pb[i].probabilities[k]) > 1e-3;
    }
  }
  CHECK(members_differ);  // else the mean would say nothing
  // Members must take the same input.
  test::ScratchDir dir("ensemble-mismatch");
  auto backend = kernels::make_reference_backend();
  const model::Shape small{1, 14, 14};
  model::Model other(model::make_model("flatten dense:10", &small), model::LossKind::kSoftmaxCrossEntropy, *backend, 5);
  train::save_checkpoint(dir / "o.h5", other, nullptr, 1, 5, nullptr);
  const train::Checkpoint o = train::load_checkpoint(dir / "o.h5");
  CHECK_THROWS_WITH(Predictor({&a.ckpt, &o}, {}), Catch::Contains("ensemble"));
}

TEST_CASE("Predictor: a regression checkpoint is refused", "[serve][predictor][bad-input]") {
  test::ScratchDir dir("serve-regression");
  auto backend = kernels::make_reference_backend();
  model::Model net(model::make_model("mlp:8", nullptr), model::LossKind::kMeanSquaredError, *backend, 1);
  train::save_checkpoint(dir / "r.h5", net, nullptr, 1, 1);
  CHECK_THROWS_WITH(Predictor(train::load_checkpoint(dir / "r.h5"), {}), Catch::Contains("needs a classifier"));
}

TEST_CASE("/predict: valid, oversized, truncated, non-image and malformed bodies", "[serve][endpoint]") {
  const TinyModel tiny;
  Predictor predictor(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  const PredictService service(predictor, service_config(tiny.ckpt));
  const GreyImage drawing = drawing_of(object_sample(5), 4, 3, 9, 150, 130);
  const std::string png = encode_png(drawing);
  const QueryParams none;

  SECTION("a PNG drawing: the prediction and the preprocessed input") {
    const Reply r = service.predict(png, "image/png", none);
    REQUIRE(r.status == 200);
    CHECK(r.content_type == "application/json");
    const nlohmann::json j = body_json(r);
    CHECK(j["format"] == "hpcnn-prediction");
    CHECK(j["model"] == "tiny-cnn");
    CHECK(j["top"].size() == 3);
    CHECK(j["probabilities"].size() == 10);
    CHECK(j["class_names"] == tiny.ckpt.class_names);
    CHECK(j["source"]["width"] == 150);
    CHECK(j["input"]["width"] == 28);
    CHECK(j["input"]["inverted"] == true);
    CHECK(j["input"]["framing"] == "fill");
    // The input shown to the user is the preprocessing of the CLI's path, pixel for pixel.
    const std::vector<uint8_t> sample = object_sample(5);
    CHECK(j["input"]["pixels"].get<std::vector<int>>() == std::vector<int>(sample.begin(), sample.end()));
    // ... and the probabilities are the predictor's on that input.
    const Prediction direct = predictor.predict({preprocess(drawing, Framing::kFill, 28, 28).input}).front();
    for (size_t k = 0; k < 10; ++k) CHECK(j["probabilities"][k].get<double>() == Approx(direct.probabilities[k]));
  }
  SECTION("JSON pixels give the same answer as the same pixels in a PNG") {
    const nlohmann::json request{{"width", drawing.width}, {"height", drawing.height}, {"pixels", drawing.pixels}};
    const Reply r = service.predict(request.dump(), "application/json", none);
    REQUIRE(r.status == 200);
    CHECK(body_json(r)["probabilities"] == body_json(service.predict(png, "image/png", none))["probabilities"]);
    CHECK(body_json(r)["source"]["format"] == "json");
  }
  SECTION("query parameters") {
    CHECK(body_json(service.predict(png, "image/png", {{"top_k", "10"}}))["top"].size() == 10);
    CHECK(body_json(service.predict(png, "image/png", {{"framing", "mnist"}}))["input"]["framing"] == "mnist");
    CHECK(service.predict(png, "image/png", {{"top_k", "11"}}).status == 400);
    CHECK(service.predict(png, "image/png", {{"top_k", "2x"}}).status == 400);
    CHECK(service.predict(png, "image/png", {{"framing", "centre"}}).status == 400);
  }
  SECTION("oversized bodies and images: 413") {
    CHECK(service.predict(std::string(256 * 1024 + 1, 'x'), "image/png", none).status == 413);
    CHECK(service.predict(png_claiming(2000, 2000), "image/png", none).status == 413);
    CHECK(service.predict(R"({"width": 5000, "height": 5000, "pixels": []})", "application/json", none).status == 413);
  }
  SECTION("truncated bodies: 400") {
    const Reply r = service.predict(png.substr(0, png.size() - 30), "image/png", none);
    CHECK(r.status == 400);
    CHECK(body_json(r)["error"].get<std::string>().find("truncated") != std::string::npos);
    CHECK(service.predict(png.substr(0, 8), "image/png", none).status == 400);
    CHECK(service.predict(R"({"width": 2, "height": 1, "pixels": [0,)", "application/json", none).status == 400);
  }
  SECTION("bodies that are not an image: 415, or 400 when they claim to be one") {
    CHECK(service.predict("hello", "text/plain", none).status == 415);
    CHECK(service.predict(std::string("\0\1\2\3", 4), "application/octet-stream", none).status == 415);
    CHECK(service.predict("GIF89a", "image/png", none).status == 400);
    CHECK(service.predict("", "image/png", none).status == 400);
  }
  SECTION("malformed JSON pixels: 400, never a crash") {
    for (const char* body :
         {"{}", "[1, 2, 3]", R"({"width": 2, "height": 2, "pixels": [0, 0, 0]})",
          R"({"width": -2, "height": 2, "pixels": []})", R"({"width": 1.5, "height": 2})",
          R"({"width": 1, "height": 1, "pixels": [256]})", R"({"width": 1, "height": 1, "pixels": ["0"]})",
          R"({"width": 1, "height": 1, "pixels": [[0]]})", "{\"width\": 1, \"height\": 1, nul"}) {
      INFO(body);
      const Reply r = service.predict(body, "application/json", none);
      CHECK(r.status == 400);
      CHECK(body_json(r).contains("error"));
    }
    // 200000 nested arrays: refused before parsing.
    CHECK(service.predict(std::string(200000, '['), "application/json", none).status == 400);
  }
  SECTION("a blank canvas: 422") {
    const Reply r =
        service.predict(encode_png(grey(280, 280, std::vector<uint8_t>(280 * 280, 255))), "image/png", none);
    CHECK(r.status == 422);
    CHECK(body_json(r)["error"].get<std::string>().find("blank") != std::string::npos);
  }
  SECTION("the page and the model description") {
    const Reply page = service.page();
    CHECK(page.status == 200);
    CHECK(page.content_type.find("text/html") == 0);
    for (const char* id : {"id=\"canvas\"", "id=\"predict\"", "id=\"clear\"", "id=\"input\"", "id=\"bars\""}) {
      CHECK(page.body.find(id) != std::string::npos);
    }
    const nlohmann::json info = body_json(service.info());
    CHECK(info["class_names"] == tiny.ckpt.class_names);
    CHECK(info["input_shape"] == nlohmann::json{1, 28, 28});
    CHECK(info["dataset"] == "toy");
  }
}

TEST_CASE("HTTP: the endpoints over a localhost socket, limits enforced by the server", "[serve][http]") {
  const TinyModel tiny;
  Predictor predictor(tiny.ckpt, {kernels::BackendKind::kOnednn, 1, 8});
  const PredictService service(predictor, service_config(tiny.ckpt));
  HttpServer server(service, {"127.0.0.1", 0, 4, 64 * 1024, 5}, kQuiet);
  REQUIRE(server.port() > 0);
  CHECK(server.url() == "http://127.0.0.1:" + std::to_string(server.port()) + "/");
  std::thread serving([&] { server.run(); });

  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  const std::string png = encode_png(drawing_of(object_sample(1), 3, 0, 0, 100, 90));
  // The server may take a moment to enter its accept loop.
  httplib::Result page = client.Get("/");
  for (int tries = 0; !page && tries < 50; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    page = client.Get("/");
  }
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("<canvas id=\"canvas\"") != std::string::npos);

  const auto ok = client.Post("/predict", png, "image/png");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(nlohmann::json::parse(ok->body)["input"]["pixels"].size() == 784);

  const auto big = client.Post("/predict", std::string(64 * 1024 + 1, '\0'), "image/png");
  if (big) {  // the server may close before the client has sent it all; it must not answer 200
    CHECK(big->status == 413);
  }
  httplib::Client after("127.0.0.1", server.port());  // a fresh connection after the refused one
  const auto junk = after.Post("/predict", "not an image", "text/plain");
  REQUIRE(junk);
  CHECK(junk->status == 415);
  CHECK(nlohmann::json::parse(junk->body).contains("error"));
  const auto gz = after.Post("/predict", httplib::Headers{{"Content-Encoding", "gzip"}}, png, "image/png");
  REQUIRE(gz);
  CHECK(gz->status == 415);
  const auto missing = after.Get("/nothing-here");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(nlohmann::json::parse(missing->body)["error"] == "no such page: GET /nothing-here");

  server.stop();
  serving.join();
}

TEST_CASE("HTTP: only 127.0.0.0/8, ::1 and localhost count as loopback (anything else warns)", "[serve][http]") {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"}) {
    CAPTURE(host);
    CHECK(is_loopback_host(host));
  }
  for (const char* host : {"0.0.0.0", "::", "192.168.1.5", "128.0.0.1", "example.org", "::ffff:127.0.0.1x"}) {
    CAPTURE(host);
    CHECK_FALSE(is_loopback_host(host));
  }
}
