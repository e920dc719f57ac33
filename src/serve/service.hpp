// What `hpcnn serve` answers, apart from the HTTP transport.
//
// Each endpoint is a plain function from the request's body, content type
// and query parameters to a status, a content type and a body, so the unit
// tests exercise every answer (valid, oversized, truncated, not an image)
// without sockets, and http_server.cpp only wires these to its HTTP server.
//
//   GET  /         the page (page.html, embedded at build time)
//   GET  /info     the model: name, input shape, classes, framing, limits (JSON)
//   POST /predict  a PNG (image/png) or JSON pixels (application/json) ->
//                  the prediction and the preprocessed input (JSON)
//   GET  /katex/F  KaTeX's files from ServiceConfig::katex_dir (Debian's
//                  libjs-katex), so the page renders LaTeX with no internet
//   POST /transcribe  the same bodies, a handwritten expression -> LaTeX and
//                  each glyph's box and alternatives (serve/transcribe.hpp)
// Errors are {"error": "..."} with a 4xx status for anything the client sent
// wrong and 500 only for a failure on our side. Formats: docs/formats.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/image.hpp"
#include "serve/predictor.hpp"
#include "serve/preprocess.hpp"

namespace hpcnn::serve {

struct ServiceConfig {
  std::string model_name;
  std::string dataset;                   ///< what it was trained on ("" when unknown)
  std::vector<std::string> class_names;  ///< one per model output
  Framing framing = Framing::kFill;      ///< default; ?framing= overrides per request
  int top_k = 3;                         ///< default; ?top_k= overrides per request
  int views = 1;                         ///< /transcribe: framings per glyph (serve/transcribe.hpp)
  int64_t max_body_bytes = 4 << 20;      ///< larger bodies: 413
  /// Larger images (PNG header or JSON size): 413. Bounds the memory a request
  /// can claim: a 2048 x 2048 PNG decodes to 16 MiB of RGBA, and a PNG that
  /// large can be a few kilobytes on the wire.
  int64_t max_image_pixels = 2048LL * 2048;
  /// The page's mode on opening: "expression" (write an expression, get
  /// LaTeX) or "glyph" (one drawing, one class: the Fashion-MNIST demo).
  std::string page_mode = "expression";
  /// Where katex.min.js, katex.min.css and fonts/ are ("": /katex/ answers 404).
  std::string katex_dir;
};

struct Reply {
  int status = 200;
  std::string content_type;
  std::string body;
};

/// Query parameters, percent-decoded (http_server.cpp).
using QueryParams = std::multimap<std::string, std::string>;

/// Reads a JSON pixel image: {"width": W, "height": H, "pixels": [W*H numbers
/// 0..255, row-major, 0 = black]}. Throws BadInput (400 malformed, 413 too big).
GreyImage parse_pixels_json(std::string_view body, int64_t max_pixels);

class PredictService {
 public:
  PredictService(Predictor& predictor, ServiceConfig config);

  Reply page() const;
  Reply info() const;
  Reply predict(std::string_view body, std::string_view content_type, const QueryParams& params) const;
  /// GET /katex/NAME or /katex/fonts/NAME: a file of katex_dir (names of
  /// letters, digits, '.', '_' and '-' only, not starting with '.'), else 404.
  Reply asset(std::string_view path) const;
  Reply transcribe(std::string_view body, std::string_view content_type, const QueryParams& params) const;

  const ServiceConfig& config() const { return config_; }

 private:
  Predictor& predictor_;
  ServiceConfig config_;
};

/// {"error": message} with `status`.
Reply error_reply(int status, const std::string& message);

}  // namespace hpcnn::serve
