// PNG decoding and encoding through libpng's simplified API.
#include "serve/image.hpp"

#include <png.h>

#include <cstring>
#include <memory>

namespace hpcnn::serve {

namespace {
constexpr unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/// Frees a png_image however we leave (png_image_free is a no-op on a finished one).
struct ImageGuard {
  png_image* image;
  ~ImageGuard() { png_image_free(image); }
};

std::string png_message(const png_image& image) {
  return image.message[0] != '\0' ? std::string(image.message) : std::string("unknown libpng error");
}
}  // namespace

bool looks_like_png(std::string_view bytes) {
  return bytes.size() >= sizeof kPngSignature && std::memcmp(bytes.data(), kPngSignature, sizeof kPngSignature) == 0;
}

GreyImage decode_png(std::string_view bytes, int64_t max_pixels) {
  if (!looks_like_png(bytes)) HPCNN_BAD_INPUT(400, "not a PNG image (no PNG signature)");
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  const ImageGuard guard{&image};
  if (png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) == 0) {
    HPCNN_BAD_INPUT(400, "bad PNG: ", png_message(image));
  }
  const auto width = static_cast<int64_t>(image.width), height = static_cast<int64_t>(image.height);
  if (width * height > max_pixels) {
    HPCNN_BAD_INPUT(413, "PNG of ", width, "x", height, " pixels is larger than the limit of ", max_pixels, " pixels");
  }
  // RGBA, 8 bits per channel, straight (not premultiplied) sRGB values.
  image.format = PNG_FORMAT_RGBA;
  std::vector<uint8_t> rgba(static_cast<size_t>(width * height * 4));
  if (png_image_finish_read(&image, nullptr, rgba.data(), 0, nullptr) == 0) {
    HPCNN_BAD_INPUT(400, "bad or truncated PNG: ", png_message(image));
  }
  GreyImage out{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height))};
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const uint32_t r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2], a = rgba[4 * i + 3];
    const uint32_t grey = (299 * r + 587 * g + 114 * b + 500) / 1000;
    out.pixels[i] = static_cast<uint8_t>((grey * a + 255 * (255 - a) + 127) / 255);
  }
  return out;
}

std::string encode_png(const GreyImage& image) {
  HPCNN_CHECK(
      image.width > 0 && image.height > 0 && static_cast<int64_t>(image.pixels.size()) == image.width * image.height,
      "encode_png: ", image.width, "x", image.height, " image with ", image.pixels.size(), " pixels");
  png_image info;
  std::memset(&info, 0, sizeof info);
  info.version = PNG_IMAGE_VERSION;
  info.width = static_cast<png_uint_32>(image.width);
  info.height = static_cast<png_uint_32>(image.height);
  info.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  HPCNN_CHECK(png_image_write_get_memory_size(info, size, 0, image.pixels.data(), 0, nullptr) != 0,
              "encode_png: ", png_message(info));
  std::string out(size, '\0');
  HPCNN_CHECK(png_image_write_to_memory(&info, out.data(), &size, 0, image.pixels.data(), 0, nullptr) != 0,
              "encode_png: ", png_message(info));
  out.resize(size);
  return out;
}

}  // namespace hpcnn::serve
