// Image-folder import: scan the tree -> split the file list -> decode, convert
// and resize block by block on a few threads -> shards in a staging directory
// renamed into place at the end.
//
// libpng and libjpeg report errors by longjmp. Each setjmp sits in a small
// function that owns no C++ object with a destructor; the decoder structs and
// the pixel buffers belong to the calling C++ function, which frees them (RAII)
// whether the decoder succeeded or not, and throws the decoder's message.
#include "data/import_images.hpp"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <png.h>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstring>
#include <exception>
#include <fstream>
#include <numeric>
#include <optional>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/rng.hpp"
#include "data/import_npz.hpp"

namespace fs = std::filesystem;

namespace hpcnn::data {

namespace {
// ---- PNG (libpng) ------------------------------------------------------------

struct PngState {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char message[256] = {};
};

void png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // ancillary-chunk trouble: not a reason to refuse

void png_read_memory(png_structp png, png_bytep out, size_t count) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (count > state->size - state->pos) png_error(png, "unexpected end of file (truncated PNG)");
  std::memcpy(out, state->data + state->pos, count);
  state->pos += count;
}

struct PngGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngGuard() { png_destroy_read_struct(&png, &info, nullptr); }
};

struct RawImage {
  uint32_t width = 0;
  uint32_t height = 0;
  int channels = 0;       ///< interleaved 8-bit: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA or CMYK
  bool cmyk = false;      ///< JPEG CMYK/YCCK
  bool inverted = false;  ///< Adobe CMYK: stored inverted (255 = no ink)
  size_t row_bytes = 0;
  int bytes_per_sample = 1;  ///< as the file stores them: 2 for 16-bit PNGs and 12-bit JPEGs
};

/// Writes the refusal into `message` when the image passes `limits` (pixels,
/// then decoded bytes: width x height x channels x bytes per sample).
bool too_large(uint64_t width, uint64_t height, int channels, int bytes_per_sample, const ImageLimits& limits,
               char* message, size_t size) {
  const uint64_t pixels = width * height;  // both < 2^32: no overflow
  if (pixels > static_cast<uint64_t>(limits.max_pixels)) {
    std::snprintf(message, size, "%llux%llu pixels is larger than the limit of %lld pixels",
                  static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
                  static_cast<long long>(limits.max_pixels));
    return true;
  }
  const uint64_t bytes = pixels * static_cast<uint64_t>(channels) * static_cast<uint64_t>(bytes_per_sample);
  if (bytes > static_cast<uint64_t>(limits.max_bytes)) {
    std::snprintf(message, size,
                  "%llux%llu pixels of %d channels x %d bytes decode to %llu bytes, larger than the limit of %lld "
                  "bytes per image",
                  static_cast<unsigned long long>(width), static_cast<unsigned long long>(height), channels,
                  bytes_per_sample, static_cast<unsigned long long>(bytes), static_cast<long long>(limits.max_bytes));
    return true;
  }
  return false;
}

/// Tells the caller (ImageLimits::before_allocating) what this decode will
/// hold: the interleaved pixels and the planar copy of `planar_channels`.
void announce(const RawImage& raw, int64_t planar_channels, const ImageLimits& limits) {
  if (!limits.before_allocating) return;
  const auto pixels = static_cast<int64_t>(raw.width) * raw.height;
  limits.before_allocating(static_cast<int64_t>(raw.row_bytes) * raw.height + pixels * planar_channels);
}

/// Reads the header and sets the transforms to 8-bit grey, grey+alpha, RGB or
/// RGBA (palettes expanded, 16 bits scaled, no gamma). False on error (message in state).
bool png_read_header(png_structp png, png_infop info, RawImage* raw, const ImageLimits& limits, PngState* state) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  raw->width = png_get_image_width(png, info);
  raw->height = png_get_image_height(png, info);
  if (too_large(raw->width, raw->height, 1, 1, limits, state->message, sizeof state->message)) {
    return false;
  }
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  raw->bytes_per_sample = bit_depth == 16 ? 2 : 1;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // tRNS becomes alpha, dropped later
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_scale_16(png);  // round(v * 255 / 65535)
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  raw->channels = png_get_channels(png, info);
  raw->row_bytes = png_get_rowbytes(png, info);
  // Channels as decoded (a palette expanded to RGB or RGBA), samples as stored.
  if (too_large(raw->width, raw->height, raw->channels, raw->bytes_per_sample, limits, state->message,
                sizeof state->message)) {
    return false;
  }
  if (png_get_bit_depth(png, info) != 8 || raw->channels < 1 || raw->channels > 4 ||
      raw->row_bytes != static_cast<size_t>(raw->width) * static_cast<size_t>(raw->channels)) {
    std::snprintf(state->message, sizeof state->message, "unsupported pixel layout (%d channels of %d bits)",
                  raw->channels, png_get_bit_depth(png, info));
    return false;
  }
  return true;
}

bool png_read_pixels(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  return true;
}

/// Interleaved 8-bit pixels of a PNG; throws "<name>: bad PNG: ...".
std::vector<uint8_t> decode_png_raw(std::span<const uint8_t> bytes, std::string_view name, const ImageLimits& limits,
                                    int64_t planar_channels, RawImage& raw) {
  PngState state;
  state.data = bytes.data();
  state.size = bytes.size();
  PngGuard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_on_error, png_on_warning);
  HPCNN_CHECK(g.png != nullptr, name, ": cannot start the PNG decoder");
  g.info = png_create_info_struct(g.png);
  HPCNN_CHECK(g.info != nullptr, name, ": cannot start the PNG decoder");
  png_set_read_fn(g.png, &state, png_read_memory);
  if (!png_read_header(g.png, g.info, &raw, limits, &state)) HPCNN_THROW(name, ": bad PNG: ", state.message);
  announce(raw, planar_channels, limits);
  std::vector<uint8_t> pixels(raw.row_bytes * raw.height);
  std::vector<png_bytep> rows(raw.height);
  for (uint32_t y = 0; y < raw.height; ++y) rows[y] = pixels.data() + y * raw.row_bytes;
  if (!png_read_pixels(g.png, rows.data())) HPCNN_THROW(name, ": bad PNG: ", state.message);
  return pixels;
}

// ---- JPEG (libjpeg-turbo) ------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;  // first: libjpeg hands back a pointer to it
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

/// Warnings that still leave a whole image; every other warning (truncated
/// file, corrupt entropy data) is an error, as a damaged sample should be.
bool benign_jpeg_warning(int code) {
  return code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC;
}

void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && !benign_jpeg_warning(cinfo->err->msg_code)) jpeg_on_error(cinfo);
}

struct JpegGuard {
  jpeg_decompress_struct cinfo{};
  JpegError err{};
  bool created = false;
  ~JpegGuard() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

bool jpeg_read_header_and_start(JpegGuard* g, const uint8_t* data, size_t size, RawImage* raw,
                                const ImageLimits& limits) {
  if (setjmp(g->err.jump)) return false;
  jpeg_create_decompress(&g->cinfo);
  g->created = true;
  jpeg_mem_src(&g->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&g->cinfo, TRUE);
  raw->bytes_per_sample = g->cinfo.data_precision > 8 ? 2 : 1;
  if (too_large(g->cinfo.image_width, g->cinfo.image_height, std::max(g->cinfo.num_components, 1),
                raw->bytes_per_sample, limits, g->err.message, sizeof g->err.message)) {
    return false;
  }
  switch (g->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: g->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK:
      g->cinfo.out_color_space = JCS_CMYK;
      raw->cmyk = true;
      raw->inverted = g->cinfo.saw_Adobe_marker != 0;
      break;
    default: g->cinfo.out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(&g->cinfo);
  raw->width = g->cinfo.output_width;
  raw->height = g->cinfo.output_height;
  raw->channels = g->cinfo.output_components;
  raw->row_bytes = static_cast<size_t>(raw->width) * static_cast<size_t>(raw->channels);
  return true;
}

bool jpeg_read_pixels(JpegGuard* g, uint8_t* pixels, size_t row_bytes) {
  if (setjmp(g->err.jump)) return false;
  while (g->cinfo.output_scanline < g->cinfo.output_height) {
    JSAMPROW row = pixels + static_cast<size_t>(g->cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&g->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&g->cinfo);
  return true;
}

/// Interleaved 8-bit pixels of a JPEG; throws "<name>: bad JPEG: ...".
std::vector<uint8_t> decode_jpeg_raw(std::span<const uint8_t> bytes, std::string_view name, const ImageLimits& limits,
                                     int64_t planar_channels, RawImage& raw) {
  JpegGuard g;
  g.cinfo.err = jpeg_std_error(&g.err.mgr);
  g.err.mgr.error_exit = jpeg_on_error;
  g.err.mgr.emit_message = jpeg_on_message;
  if (!jpeg_read_header_and_start(&g, bytes.data(), bytes.size(), &raw, limits)) {
    HPCNN_THROW(name, ": bad JPEG: ", g.err.message);
  }
  HPCNN_CHECK(raw.channels == 1 || raw.channels == 3 || (raw.cmyk && raw.channels == 4), name,
              ": bad JPEG: unsupported ", raw.channels, " components");
  announce(raw, planar_channels, limits);
  std::vector<uint8_t> pixels(raw.row_bytes * raw.height);
  if (!jpeg_read_pixels(&g, pixels.data(), raw.row_bytes)) HPCNN_THROW(name, ": bad JPEG: ", g.err.message);
  return pixels;
}

// ---- conversion ----------------------------------------------------------------

uint8_t luma(int r, int g, int b) { return static_cast<uint8_t>((299 * r + 587 * g + 114 * b + 500) / 1000); }

/// One channel of CMYK ink (0..255 = none..full, after undoing Adobe's
/// inversion) and black ink to an 8-bit RGB value: (255 - c)(255 - k) / 255.
uint8_t cmyk_channel(int c, int k, bool inverted) {
  const int paper = inverted ? c : 255 - c;
  const int light = inverted ? k : 255 - k;
  return static_cast<uint8_t>((paper * light + 127) / 255);
}

/// Interleaved pixels -> planar (C, H, W) RGB or grey.
DecodedImage to_planar(const std::vector<uint8_t>& src, const RawImage& raw, bool grayscale) {
  DecodedImage out;
  out.channels = grayscale ? 1 : 3;
  out.height = raw.height;
  out.width = raw.width;
  const size_t plane = static_cast<size_t>(raw.width) * raw.height;
  out.pixels.resize(plane * static_cast<size_t>(out.channels));
  const auto nc = static_cast<size_t>(raw.channels);
  for (size_t p = 0; p < plane; ++p) {
    const uint8_t* px = src.data() + p * nc;
    uint8_t r, g, b;
    if (raw.cmyk) {
      r = cmyk_channel(px[0], px[3], raw.inverted);
      g = cmyk_channel(px[1], px[3], raw.inverted);
      b = cmyk_channel(px[2], px[3], raw.inverted);
    } else if (nc <= 2) {  // grey, grey + alpha
      if (grayscale) {
        out.pixels[p] = px[0];
        continue;
      }
      r = g = b = px[0];
    } else {  // RGB, RGBA: alpha dropped
      r = px[0];
      g = px[1];
      b = px[2];
    }
    if (grayscale) {
      out.pixels[p] = luma(r, g, b);
    } else {
      out.pixels[p] = r;
      out.pixels[plane + p] = g;
      out.pixels[2 * plane + p] = b;
    }
  }
  return out;
}

std::vector<uint8_t> read_file_bytes(const fs::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  const bool regular = fs::is_regular_file(path, ec);
  HPCNN_CHECK(regular, name, ": cannot open (no such file)");
  const uint64_t size = fs::file_size(path, ec);
  HPCNN_CHECK(!ec, name, ": cannot read its size");
  HPCNN_CHECK(size <= kMaxImageFileBytes, name, ": larger than ", kMaxImageFileBytes, " bytes");
  std::ifstream in(path, std::ios::binary);
  HPCNN_CHECK(in.good(), name, ": cannot open");
  std::vector<uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  HPCNN_CHECK(static_cast<uint64_t>(in.gcount()) == size, name, ": read error");
  return bytes;
}

bool hidden(const fs::path& p) { return p.filename().string().starts_with('.'); }

/// Non-hidden subfolders of `dir`, sorted by byte order.
std::vector<std::string> subfolders(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (!hidden(it->path()) && it->is_directory(ec2)) names.push_back(it->path().filename().string());
  }
  HPCNN_CHECK(!ec, dir.string(), ": cannot list the folder (", ec.message(), ")");
  std::sort(names.begin(), names.end());
  return names;
}

/// Image files of one class folder, sorted by name; counts what it skips.
std::vector<fs::path> image_files(const fs::path& dir, int64_t& skipped) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (hidden(it->path())) continue;
    std::error_code ec2;
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec2) && is_image_file_name(name)) {
      names.push_back(name);
    } else {
      ++skipped;
    }
  }
  HPCNN_CHECK(!ec, dir.string(), ": cannot list the folder (", ec.message(), ")");
  HPCNN_CHECK(!names.empty(), dir.string(), ": no .png, .jpg or .jpeg images (an empty class folder)");
  std::sort(names.begin(), names.end());
  std::vector<fs::path> paths;
  paths.reserve(names.size());
  for (const std::string& n : names) paths.push_back(dir / n);
  return paths;
}
}  // namespace

bool is_image_file_name(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string ext(name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == "png" || ext == "jpg" || ext == "jpeg";
}

DecodedImage decode_image(std::span<const uint8_t> bytes, std::string_view name, bool grayscale,
                          const ImageLimits& limits) {
  const int64_t planar_channels = grayscale ? 1 : 3;
  static constexpr uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  RawImage raw;
  std::vector<uint8_t> pixels;
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) {
    pixels = decode_png_raw(bytes, name, limits, planar_channels, raw);
  } else if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    pixels = decode_jpeg_raw(bytes, name, limits, planar_channels, raw);
  } else {
    HPCNN_THROW(name, ": not a PNG or JPEG image (", bytes.empty() ? "empty file" : "unknown signature", ")");
  }
  HPCNN_CHECK(raw.width > 0 && raw.height > 0, name, ": empty image");
  return to_planar(pixels, raw, grayscale);
}

DecodedImage read_image_file(const fs::path& path, bool grayscale, const ImageLimits& limits) {
  return decode_image(read_file_bytes(path), path.string(), grayscale, limits);
}

DecodeBudget::Hold DecodeBudget::reserve(int64_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  freed_.wait(lock, [&] { return held_ == 0 || held_ + bytes <= limit_; });
  held_ += bytes;
  peak_ = std::max(peak_, held_);
  return Hold(this, bytes);
}

void DecodeBudget::release(int64_t bytes) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    held_ -= bytes;
  }
  freed_.notify_all();
}

int64_t DecodeBudget::peak() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

ImageTree scan_image_tree(const fs::path& dir) {
  const std::string where = dir.string();
  std::error_code ec;
  HPCNN_CHECK(fs::is_directory(dir, ec), where, ": no such folder");
  ImageTree tree;
  const std::vector<std::string> top = subfolders(dir);
  const bool named_splits = top == std::vector<std::string>{"test", "train"} ||
                            top == std::vector<std::string>{"test", "train", "validation"};
  tree.split_folders = named_splits && !subfolders(dir / "train").empty();
  if (!tree.split_folders) {
    tree.class_names = top;
  } else {
    tree.class_names = subfolders(dir / "train");
  }
  HPCNN_CHECK(tree.class_names.size() >= 2, (tree.split_folders ? (dir / "train").string() : where), ": found ",
              tree.class_names.size(), " class folder", tree.class_names.size() == 1 ? "" : "s",
              " (need at least 2: one folder of images per class)");
  HPCNN_CHECK(static_cast<int64_t>(tree.class_names.size()) <= kMaxClasses, where, ": more than ", kMaxClasses,
              " class folders");
  auto add_split = [&](const std::string& split, const fs::path& root) {
    const std::vector<std::string> classes = tree.split_folders ? subfolders(root) : tree.class_names;
    HPCNN_CHECK(!classes.empty(), root.string(), ": no class folders");
    std::vector<ImageTree::File>& files = tree.splits[split];
    for (const std::string& c : classes) {
      const auto it = std::lower_bound(tree.class_names.begin(), tree.class_names.end(), c);
      HPCNN_CHECK(it != tree.class_names.end() && *it == c, (root / c).string(), ": class '", c, "' has no folder in ",
                  (dir / "train").string());
      const auto label = static_cast<int32_t>(it - tree.class_names.begin());
      for (fs::path& p : image_files(root / c, tree.skipped)) files.push_back({std::move(p), label});
    }
  };
  if (tree.split_folders) {
    for (const std::string& split : top) add_split(split, dir / split);
  } else {
    add_split("train", dir);
  }
  return tree;
}

namespace {
/// Decodes files[first_index + i] for the block's samples, resized into the block,
/// on up to `threads` threads. Rethrows the error of the first failing sample.
void decode_block(const std::vector<ImageTree::File>& files, const ImportImagesConfig& config, int threads,
                  DecodeBudget& budget, SampleBlock& block) {
  const int64_t h = config.height, w = config.width;
  const int64_t channels = config.grayscale ? 1 : 3;
  const int64_t elems = channels * h * w;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(block.count));
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < block.count; i = next++) {
      const ImageTree::File& f = files[static_cast<size_t>(block.first_index + i)];
      try {
        // Held from the header until the image is resized into the block.
        std::optional<DecodeBudget::Hold> hold;
        const ImageLimits limits{config.max_pixels, config.max_image_bytes,
                                 [&](int64_t bytes) { hold.emplace(budget.reserve(bytes)); }};
        const DecodedImage im = read_image_file(f.path, config.grayscale, limits);
        uint8_t* dst = block.samples_u8.data() + i * elems;
        for (int64_t c = 0; c < channels; ++c) {
          const uint8_t* src = im.pixels.data() + c * im.height * im.width;
          if (im.height == h && im.width == w) {
            std::memcpy(dst + c * h * w, src, static_cast<size_t>(h * w));
          } else {
            resize_bilinear(src, im.height, im.width, dst + c * h * w, h, w);
          }
        }
        block.labels[static_cast<size_t>(i)] = f.label;
      } catch (...) {
        errors[static_cast<size_t>(i)] = std::current_exception();
      }
    }
  };
  const int n = static_cast<int>(std::min<int64_t>(threads, block.count));
  std::vector<std::jthread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  pool.clear();  // joins
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}
}  // namespace

Manifest import_images(const ImportImagesConfig& config, const Logger& log) {
  HPCNN_CHECK(!config.out.empty(), "no output directory given");
  HPCNN_CHECK(config.height > 0 && config.width > 0, "the image size must be positive");
  if (config.force) require_replaceable_dataset(config.out);
  const std::string where = config.input.string();
  // 1. List every file (nothing decoded yet) and settle the splits.
  const ImageTree tree = scan_image_tree(config.input);
  const std::vector<ImageTree::File>& pool = tree.splits.at("train");
  const bool has_validation_folder = tree.splits.count("validation") > 0;
  int64_t total = 0;
  for (const auto& [split, files] : tree.splits) total += static_cast<int64_t>(files.size());
  log.info(cat("found ", total, " images in ", tree.class_names.size(), " classes",
               tree.split_folders
                   ? cat(" (", tree.splits.size() == 3 ? "train, validation, test" : "train, test", " folders)")
                   : std::string(),
               tree.skipped > 0 ? cat("; skipped ", tree.skipped,
                                      tree.skipped == 1 ? " entry that is" : " entries that are", " not an image file")
                                : std::string()));
  HPCNN_CHECK(!(tree.split_folders && config.test_fraction > 0), where,
              ": has train/ and test/ folders; --test-fraction applies only to a folder of class folders");
  HPCNN_CHECK(!(has_validation_folder && config.validation_fraction > 0), where,
              ": has a validation/ folder; --validation-fraction applies only without one");

  std::vector<int64_t> order(pool.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  if (config.seed != 0) {
    Rng rng(derive_key({config.seed, 0x696d67}));
    shuffle(std::span<int64_t>(order), rng);
  }
  const auto n_pool = static_cast<int64_t>(pool.size());
  const auto n_test = static_cast<int64_t>(std::llround(config.test_fraction * static_cast<double>(n_pool)));
  const int64_t n_rest = n_pool - n_test;
  const auto n_validation =
      static_cast<int64_t>(std::llround(config.validation_fraction * static_cast<double>(n_rest)));
  const int64_t n_train = n_rest - n_validation;
  HPCNN_CHECK(n_train > 0, "--test-fraction ", config.test_fraction, " and --validation-fraction ",
              config.validation_fraction, " leave no training images of ", n_pool);

  // Write order: test, train, validation from the shuffled pool; split folders as listed.
  std::map<std::string, std::vector<ImageTree::File>> splits;
  auto take = [&](const std::string& split, int64_t first, int64_t count) {
    if (count == 0) return;
    std::vector<ImageTree::File>& files = splits[split];
    for (int64_t k = first; k < first + count; ++k) files.push_back(pool[static_cast<size_t>(order[k])]);
  };
  take("test", 0, n_test);
  take("train", n_test, n_train);
  take("validation", n_test + n_train, n_validation);
  for (const auto& [split, files] : tree.splits) {
    if (split != "train") splits[split] = files;
  }
  for (const auto& [split, files] : splits) {
    HPCNN_CHECK(static_cast<int64_t>(files.size()) >= config.shards, "cannot cut the ", files.size(), " images of ",
                split, " into --shards ", config.shards, " (every shard needs an image)");
  }

  Manifest m;
  m.name = config.name;
  m.task = Task::kClassification;
  m.sample_type = SampleType::kUInt8;
  m.sample_shape = {config.grayscale ? 1 : 3, config.height, config.width};
  HPCNN_CHECK(m.sample_elements() <= kMaxSampleElements, "--size ", config.height, "x", config.width, " is too large");
  m.num_classes = static_cast<int>(tree.class_names.size());
  m.class_names = tree.class_names;
  m.source = cat("images: ", fs::absolute(config.input).string(), " (", total, " PNG/JPEG files",
                 tree.split_folders ? "; train/test folders" : "", "; ", config.grayscale ? "grey" : "RGB",
                 ", resized bilinear to ", config.height, "x", config.width, "; shuffle seed ", config.seed,
                 n_test > 0 ? cat("; test fraction ", config.test_fraction) : std::string(),
                 n_validation > 0 ? cat("; validation fraction ", config.validation_fraction) : std::string(), ")");

  // 2. Decode into the shards of a staging directory; rename it into place at the end.
  const int threads =
      config.threads > 0 ? config.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  DecodeBudget budget(config.max_decode_bytes);
  StagingDir staging(config.out, config.force);
  WriteOptions options;
  options.num_shards = config.shards;
  options.deflate_level = config.deflate_level;
  options.block_samples = 1024;
  for (const char* split : kSplitNames) {
    const auto it = splits.find(split);
    if (it == splits.end()) continue;
    const std::vector<ImageTree::File>& files = it->second;
    write_split(
        staging.path(), m, split, static_cast<int64_t>(files.size()), options,
        [&](SampleBlock& block) { decode_block(files, config, threads, budget, block); },
        [&log, split](int64_t done, int64_t n) { log.progress(cat("import ", split, ": ", done, "/", n, " images")); });
    log.end_progress();
  }
  save_manifest(staging.path(), m);
  staging.commit();
  return m;
}

}  // namespace hpcnn::data
