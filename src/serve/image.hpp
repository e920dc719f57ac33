// 8-bit grey images in and out of PNG, for `hpcnn predict` and `hpcnn serve`.
//
// Everything a person hands the model (a PNG file, the page's canvas, a JSON
// pixel array) becomes one GreyImage first, so the rest of the pipeline has a
// single input type. Decoding goes through libpng's simplified API, which
// checks CRCs and never longjmps through C++ frames; the pixel limit is
// checked from the header before anything is allocated, so a tiny PNG that
// claims 100000 x 100000 pixels is refused rather than decoded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace hpcnn::serve {

/// Row-major 8-bit grey pixels, 0 = black, 255 = white; pixels.size() == width * height.
struct GreyImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> pixels;

  uint8_t at(int64_t x, int64_t y) const { return pixels[static_cast<size_t>(y * width + x)]; }
};

/// Input the caller got wrong (a broken PNG, a malformed pixel array, a blank
/// drawing): still an hpcnn::Error, plus the HTTP status that describes it.
class BadInput : public Error {
 public:
  BadInput(int http_status, const std::string& message, const char* file, int line)
      : Error(message, file, line), http_status_(http_status) {}
  int http_status() const { return http_status_; }

 private:
  int http_status_;
};

/// Throws serve::BadInput with an HTTP status and the message parts.
#define HPCNN_BAD_INPUT(status, ...) \
  throw ::hpcnn::serve::BadInput(status, ::hpcnn::cat(__VA_ARGS__), __FILE__, __LINE__)

/// The eight bytes every PNG starts with.
bool looks_like_png(std::string_view bytes);

/// Decodes a PNG of any colour type and bit depth to 8-bit grey:
/// grey = round((299 R + 587 G + 114 B) / 1000) on the 8-bit sRGB values
/// (ITU-R BT.601 luma, as PIL's "L" mode), then alpha is composited onto
/// white paper: v = (grey * a + 255 * (255 - a)) / 255, rounded. A transparent
/// canvas with dark strokes is thus dark ink on white.
/// Throws BadInput (400) for data that is not a whole PNG, (413) for more
/// than `max_pixels` pixels.
GreyImage decode_png(std::string_view bytes, int64_t max_pixels);

/// Encodes an 8-bit grey PNG (in memory).
std::string encode_png(const GreyImage& image);

}  // namespace hpcnn::serve
