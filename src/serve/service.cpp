// The endpoints' answers (see service.hpp).
#include "serve/service.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/fs.hpp"

#include "serve/page_html.hpp"  // generated from page.html: kPageHtml
#include "serve/transcribe.hpp"

namespace hpcnn::serve {

namespace {
constexpr const char* kJson = "application/json";
constexpr int kMaxJsonDepth = 4;

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

/// Deepest nesting of [ and { outside strings. Checked before parsing so that
/// "[[[[..." cannot run the parser or the destructor out of stack.
int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char ch : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        in_string = false;
      }
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return deepest;
}

int64_t positive_integer(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) HPCNN_BAD_INPUT(400, "JSON pixels: missing \"", key, "\"");
  if (!it->is_number_integer() || it->get<int64_t>() < 1) {
    HPCNN_BAD_INPUT(400, "JSON pixels: \"", key, "\" must be a positive integer");
  }
  return it->get<int64_t>();
}

/// The first value of query parameter `key`, or `fallback`.
std::string param(const QueryParams& params, const std::string& key, const std::string& fallback) {
  const auto it = params.find(key);
  return it == params.end() ? fallback : it->second;
}

/// ?top_k= (or `fallback`), 1..num_classes; BadInput 400 otherwise.
int parse_top_k(const QueryParams& params, int fallback, int num_classes) {
  const std::string top_text = param(params, "top_k", std::to_string(fallback));
  char* end = nullptr;
  const long top_k = std::strtol(top_text.c_str(), &end, 10);
  if (top_text.empty() || *end != '\0' || top_k < 1 || top_k > num_classes) {
    HPCNN_BAD_INPUT(400, "top_k must be an integer from 1 to ", num_classes, " (got '", top_text, "')");
  }
  return static_cast<int>(top_k);
}

/// The body of /predict and /transcribe: a PNG by its signature, else JSON
/// pixels by type or first character. BadInput 413/400/415 otherwise.
GreyImage read_picture(std::string_view body, std::string_view content_type, const ServiceConfig& config,
                       const char*& source) {
  if (static_cast<int64_t>(body.size()) > config.max_body_bytes) {
    HPCNN_BAD_INPUT(413, "request body of ", body.size(), " bytes is larger than the limit of ", config.max_body_bytes);
  }
  if (body.empty()) HPCNN_BAD_INPUT(400, "empty request body: send a PNG image or JSON pixels");
  source = "png";
  if (looks_like_png(body)) return decode_png(body, config.max_image_pixels);
  if (starts_with_ci(content_type, "image/png")) {
    HPCNN_BAD_INPUT(400, "body is not a PNG image (no PNG signature) although Content-Type says image/png");
  }
  if (starts_with_ci(content_type, "application/json") || trim_left(body).starts_with('{')) {
    source = "json";
    return parse_pixels_json(body, config.max_image_pixels);
  }
  HPCNN_BAD_INPUT(415, "unsupported body (Content-Type '", content_type,
                  "'): send a PNG image (image/png) or JSON pixels (application/json)");
}
}  // namespace

GreyImage parse_pixels_json(std::string_view body, int64_t max_pixels) {
  if (json_depth(body) > kMaxJsonDepth) HPCNN_BAD_INPUT(400, "JSON pixels: nested deeper than ", kMaxJsonDepth);
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) HPCNN_BAD_INPUT(400, "JSON pixels: not valid JSON (truncated?)");
  if (!j.is_object()) HPCNN_BAD_INPUT(400, R"(JSON pixels: expected {"width": W, "height": H, "pixels": [...]})");
  const int64_t width = positive_integer(j, "width"), height = positive_integer(j, "height");
  if (width > max_pixels || height > max_pixels || width * height > max_pixels) {
    HPCNN_BAD_INPUT(413, "JSON pixels: ", width, "x", height, " is larger than the limit of ", max_pixels, " pixels");
  }
  const auto it = j.find("pixels");
  if (it == j.end() || !it->is_array()) HPCNN_BAD_INPUT(400, "JSON pixels: \"pixels\" must be an array");
  if (static_cast<int64_t>(it->size()) != width * height) {
    HPCNN_BAD_INPUT(400, "JSON pixels: \"pixels\" has ", it->size(), " values, width x height = ", width * height);
  }
  GreyImage image{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height))};
  size_t i = 0;
  for (const auto& v : *it) {
    const double x = v.is_number() ? v.get<double>() : -1.0;
    if (!(x >= 0.0 && x <= 255.0)) HPCNN_BAD_INPUT(400, "JSON pixels: pixel ", i, " is not a number in 0..255");
    image.pixels[i++] = static_cast<uint8_t>(std::lround(x));
  }
  return image;
}

Reply error_reply(int status, const std::string& message) {
  return {status, kJson, nlohmann::json{{"error", message}}.dump() + "\n"};
}

PredictService::PredictService(Predictor& predictor, ServiceConfig config)
    : predictor_(predictor), config_(std::move(config)) {
  HPCNN_CHECK(static_cast<int>(config_.class_names.size()) == predictor_.num_classes(),
              "service: ", config_.class_names.size(), " class names for a model with ", predictor_.num_classes(),
              " outputs");
}

Reply PredictService::page() const { return {200, "text/html; charset=utf-8", std::string(kPageHtml)}; }

Reply PredictService::info() const {
  const model::Shape& in = predictor_.input_shape();
  nlohmann::json j{{"format", "hpcnn-serve-info"},
                   {"version", 1},
                   {"model", config_.model_name},
                   {"dataset", config_.dataset},
                   {"input_shape", {in.c, in.h, in.w}},
                   {"class_names", config_.class_names},
                   {"framing", framing_name(config_.framing)},
                   {"framings", nlohmann::json::array()},
                   {"top_k", config_.top_k},
                   {"max_body_bytes", config_.max_body_bytes},
                   {"max_image_pixels", config_.max_image_pixels},
                   {"page_mode", config_.page_mode},
                   {"katex", !config_.katex_dir.empty()}};
  for (const FramingName& f : kFramings) j["framings"].push_back(f.name);
  return {200, kJson, j.dump() + "\n"};
}

Reply PredictService::predict(std::string_view body, std::string_view content_type, const QueryParams& params) const {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    // Per-request options.
    Framing framing = config_.framing;
    try {
      framing = parse_framing(param(params, "framing", framing_name(config_.framing)));
    } catch (const UsageError& e) {
      return error_reply(400, e.what());
    }
    const int top_k = parse_top_k(params, config_.top_k, predictor_.num_classes());
    const char* source = "png";
    const GreyImage picture = read_picture(body, content_type, config_, source);

    const model::Shape& in = predictor_.input_shape();
    const Preprocessed pre = preprocess(picture, framing, in.h, in.w);
    const std::vector<Prediction> result = predictor_.predict({pre.input});

    nlohmann::json j{{"format", "hpcnn-prediction"}, {"version", 1}, {"model", config_.model_name}};
    j.update(result.front().to_json(config_.class_names, static_cast<int>(top_k)));
    j["class_names"] = config_.class_names;
    j["source"] = {{"format", source}, {"width", picture.width}, {"height", picture.height}};
    j["input"] = {{"width", pre.image.width},
                  {"height", pre.image.height},
                  {"framing", framing_name(framing)},
                  {"inverted", pre.inverted},
                  {"pixels", pre.image.pixels}};
    j["milliseconds"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return {200, kJson, j.dump() + "\n"};
  } catch (const BadInput& e) {
    return error_reply(e.http_status(), e.message());
  } catch (const std::exception& e) {
    return error_reply(500, cat("internal error: ", e.what()));
  }
}

Reply PredictService::asset(std::string_view path) const {
  constexpr std::string_view kPrefix = "/katex/";
  std::string_view name = path.substr(std::min(path.size(), kPrefix.size()));
  const bool font = name.starts_with("fonts/");
  if (font) name.remove_prefix(6);
  const bool plain = !name.empty() && name.front() != '.' && std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
  });
  if (!path.starts_with(kPrefix) || !plain || config_.katex_dir.empty()) {
    return error_reply(404, cat("no such page: GET ", path));
  }
  static const std::pair<std::string_view, const char*> kTypes[] = {{".js", "application/javascript"},
                                                                    {".css", "text/css"},
                                                                    {".woff2", "font/woff2"},
                                                                    {".woff", "font/woff"},
                                                                    {".ttf", "font/ttf"}};
  const char* type = nullptr;
  for (const auto& [ext, t] : kTypes) {
    if (name.ends_with(ext)) type = t;
  }
  const std::filesystem::path file =
      std::filesystem::path(config_.katex_dir) / (font ? "fonts" : "") / std::string(name);
  std::error_code ec;
  if (type == nullptr || !std::filesystem::is_regular_file(file, ec)) {
    return error_reply(404, cat("no such page: GET ", path));
  }
  try {
    return {200, type, read_text_file(file, int64_t{4} << 20)};
  } catch (const std::exception& e) {
    return error_reply(500, cat("internal error: ", e.what()));
  }
}

Reply PredictService::transcribe(std::string_view body, std::string_view content_type,
                                 const QueryParams& params) const {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const int top_k = parse_top_k(params, config_.top_k, predictor_.num_classes());
    const char* source = "png";
    const GreyImage picture = read_picture(body, content_type, config_, source);
    nlohmann::json j = serve::transcribe(predictor_, picture, config_.class_names, top_k, config_.views);
    j["model"] = config_.model_name;
    j["source"] = source;
    j["milliseconds"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return {200, kJson, j.dump() + "\n"};
  } catch (const BadInput& e) {
    return error_reply(e.http_status(), e.message());
  } catch (const std::exception& e) {
    return error_reply(500, cat("internal error: ", e.what()));
  }
}

}  // namespace hpcnn::serve
