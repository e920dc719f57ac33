// NPZ import: zip directory -> .npy arrays -> checked uint8 images and int
// labels -> shards in a staging directory renamed into place at the end.
#include "data/import_npz.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/rng.hpp"

namespace fs = std::filesystem;

namespace hpcnn::data {

namespace {
constexpr uint64_t kMaxNpzBytes = uint64_t{8} << 30;  ///< file, each member and all members, decompressed
/// A deflated member larger than kNpzBombBytes must not expand more than
/// kNpzBombRatio:1. MNIST's images deflate about 5:1 and CIFAR's barely at
/// all; only small arrays (sorted labels) reach hundreds, and deflate's own
/// limit is 1032:1, where a 4 MB member of zeros declares 4 GB.
constexpr uint64_t kNpzBombBytes = uint64_t{256} << 20;
constexpr uint64_t kNpzBombRatio = 100;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return std::string(s.substr(a, b - a));
}

/// The value text of 'key' in a .npy header dict: a quoted string, a (tuple) or a bare word.
std::string header_field(const std::string& header, const std::string& key, std::string_view name) {
  const std::string quoted = "'" + key + "'";
  const size_t k = header.find(quoted);
  HPCNN_CHECK(k != std::string::npos, name, ": .npy header has no ", quoted, " field");
  size_t p = header.find(':', k + quoted.size());
  HPCNN_CHECK(p != std::string::npos, name, ": .npy header is malformed near ", quoted);
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  HPCNN_CHECK(p < header.size(), name, ": .npy header is malformed near ", quoted);
  size_t e = p;
  if (header[p] == '\'' || header[p] == '"' || header[p] == '(') {
    const char close = header[p] == '(' ? ')' : header[p];
    e = header.find(close, p + 1);
    HPCNN_CHECK(e != std::string::npos, name, ": .npy header is malformed near ", quoted);
    ++e;
  } else {
    while (e < header.size() && header[e] != ',' && header[e] != '}') ++e;
  }
  return trim(std::string_view(header).substr(p, e - p));
}
}  // namespace

uint64_t NpyArray::element_count() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

std::string NpyArray::dtype_name() const {
  const char* base = kind == 'u' ? "uint" : kind == 'i' ? "int" : kind == 'f' ? "float" : "bool";
  return kind == 'b' ? std::string(base) : cat(base, item_size * 8);
}

double NpyArray::value(uint64_t i) const {
  const uint8_t* p = bytes.data() + i * static_cast<uint64_t>(item_size);
  switch (kind) {
    case 'b':
    case 'u':
      switch (item_size) {
        case 1: return p[0];
        case 2: return le16(p);
        case 4: return le32(p);
        default: return static_cast<double>(le64(p));
      }
    case 'i':
      switch (item_size) {
        case 1: return static_cast<int8_t>(p[0]);
        case 2: return static_cast<int16_t>(le16(p));
        case 4: return static_cast<int32_t>(le32(p));
        default: return static_cast<double>(static_cast<int64_t>(le64(p)));
      }
    default:
      if (item_size == 4) {
        float f;
        const uint32_t bits = le32(p);
        std::memcpy(&f, &bits, 4);
        return f;
      } else {
        double d;
        const uint64_t bits = le64(p);
        std::memcpy(&d, &bits, 8);
        return d;
      }
  }
}

NpyHeader parse_npy_header(std::span<const uint8_t> file, std::string_view name) {
  static constexpr uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  HPCNN_CHECK(file.size() >= 10 && std::memcmp(file.data(), kMagic, 6) == 0, name, ": not a .npy array (bad magic)");
  const int major = file[6];
  HPCNN_CHECK(major >= 1 && major <= 3, name, ": unsupported .npy format version ", major);
  const size_t len_bytes = major == 1 ? 2 : 4;
  HPCNN_CHECK(file.size() >= 8 + len_bytes, name, ": truncated .npy header");
  const uint64_t header_len = major == 1 ? le16(file.data() + 8) : le32(file.data() + 8);
  HPCNN_CHECK(header_len <= kMaxNpyHeaderBytes, name, ": .npy header of ", header_len, " bytes (at most ",
              kMaxNpyHeaderBytes, ")");
  const uint64_t data_offset = 8 + len_bytes + header_len;
  HPCNN_CHECK(data_offset <= file.size(), name, ": truncated .npy header (", header_len, " bytes promised)");
  const std::string header(reinterpret_cast<const char*>(file.data() + 8 + len_bytes), header_len);

  NpyHeader h;
  h.data_offset = data_offset;
  NpyArray& a = h.array;
  std::string descr = header_field(header, "descr", name);
  HPCNN_CHECK(descr.size() >= 4 && (descr.front() == '\'' || descr.front() == '"') && descr.back() == descr.front(),
              name, ": unsupported dtype ", descr, " (structured or object arrays cannot be imported)");
  descr = descr.substr(1, descr.size() - 2);
  const char order = descr[0];
  HPCNN_CHECK(order != '>', name, ": big-endian dtype ", descr, " is not supported (save with a little-endian dtype)");
  HPCNN_CHECK(order == '<' || order == '|' || order == '=', name, ": unsupported dtype ", descr);
  a.kind = descr[1];
  HPCNN_CHECK(a.kind != 'O', name, ": object arrays (pickles) are not supported");
  const std::string size_text = descr.substr(2);
  HPCNN_CHECK(size_text == "1" || size_text == "2" || size_text == "4" || size_text == "8", name,
              ": unsupported dtype ", descr);
  a.item_size = std::stoi(size_text);
  const bool ok_kind =
      (a.kind == 'u' || a.kind == 'i') || (a.kind == 'f' && a.item_size >= 4) || (a.kind == 'b' && a.item_size == 1);
  HPCNN_CHECK(ok_kind, name, ": unsupported dtype ", descr, " (integers, float32, float64 or bool)");

  const std::string fortran = header_field(header, "fortran_order", name);
  HPCNN_CHECK(fortran == "False", name, ": Fortran-ordered arrays are not supported (save with np.ascontiguousarray)");

  const std::string shape = header_field(header, "shape", name);
  HPCNN_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')', name, ": malformed shape ", shape);
  uint64_t count = 1;
  size_t p = 1;
  while (p < shape.size() - 1) {
    while (p < shape.size() - 1 && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size() - 1) break;
    size_t used = 0;
    unsigned long long d = 0;
    try {
      d = std::stoull(shape.substr(p), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    HPCNN_CHECK(used > 0 && std::isdigit(static_cast<unsigned char>(shape[p])), name, ": malformed shape ", shape);
    HPCNN_CHECK(d == 0 || count <= kMaxNpzBytes / d, name, ": shape ", shape, " is too large");
    count *= d;
    a.shape.push_back(d);
    p += used;
  }
  HPCNN_CHECK(count <= kMaxNpzBytes / static_cast<uint64_t>(a.item_size), name, ": shape ", shape, " is too large");
  h.payload_bytes = count * static_cast<uint64_t>(a.item_size);
  h.shape_text = shape;
  return h;
}

NpyArray parse_npy(std::span<const uint8_t> file, std::string_view name) {
  NpyHeader h = parse_npy_header(file, name);
  const uint64_t payload = file.size() - h.data_offset;
  HPCNN_CHECK(payload == h.payload_bytes, name, ": shape ", h.shape_text, " of ", h.array.dtype_name(), " needs ",
              h.payload_bytes, " bytes but the file holds ", payload);
  h.array.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(h.data_offset), file.end());
  return std::move(h.array);
}

namespace {
/// Inflates the raw deflate stream `in` into `out`, never past its end (the
/// bound): the bytes written, and whether the stream ended there.
std::pair<uint64_t, bool> inflate_into(const uint8_t* in, uint64_t in_size, std::span<uint8_t> out,
                                       const std::string& what) {
  z_stream zs{};
  HPCNN_CHECK(inflateInit2(&zs, -15) == Z_OK, what, ": cannot start inflate");
  zs.next_in = const_cast<Bytef*>(in);
  uint64_t in_left = in_size, out_done = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const auto in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
    const auto out_chunk = static_cast<uInt>(std::min<uint64_t>(out.size() - out_done, 1u << 30));
    zs.avail_in = in_chunk;
    zs.next_out = out.data() + out_done;
    zs.avail_out = out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    out_done += out_chunk - zs.avail_out;
    if (rc == Z_BUF_ERROR && (in_left == 0 || out_done == out.size())) break;
  }
  inflateEnd(&zs);
  return {out_done, rc == Z_STREAM_END};
}

/// One member as the zip directory describes it.
struct ZipMember {
  std::string name;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0, data = 0;  ///< compressed and declared sizes; offset of the data
};
}  // namespace

std::map<std::string, NpyArray> read_npz(const fs::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  HPCNN_CHECK(in.good() && fs::is_regular_file(path), name, ": cannot open (no such file)");
  const uint64_t size = fs::file_size(path);
  HPCNN_CHECK(size <= kMaxNpzBytes, name, ": larger than ", kMaxNpzBytes, " bytes");
  std::vector<uint8_t> f(size);
  in.read(reinterpret_cast<char*>(f.data()), static_cast<std::streamsize>(size));
  HPCNN_CHECK(static_cast<uint64_t>(in.gcount()) == size, name, ": read error");

  // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
  HPCNN_CHECK(size >= 22, name, ": not an .npz (zip) archive");
  int64_t eocd = -1;
  for (int64_t p = static_cast<int64_t>(size) - 22; p >= 0 && p >= static_cast<int64_t>(size) - 22 - 65535; --p) {
    if (le32(&f[static_cast<size_t>(p)]) == 0x06054b50) {
      eocd = p;
      break;
    }
  }
  HPCNN_CHECK(eocd >= 0, name, ": not an .npz (zip) archive (no end-of-directory record)");
  const uint8_t* e = &f[static_cast<size_t>(eocd)];
  uint64_t entries = le16(e + 10), cd_size = le32(e + 12), cd_offset = le32(e + 16);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    HPCNN_CHECK(eocd >= 20 && le32(&f[static_cast<size_t>(eocd - 20)]) == 0x07064b50, name,
                ": damaged zip64 directory locator");
    const uint64_t z = le64(&f[static_cast<size_t>(eocd - 20 + 8)]);
    HPCNN_CHECK(size >= 56 && z <= size - 56 && le32(&f[z]) == 0x06064b50, name, ": damaged zip64 directory record");
    entries = le64(&f[z + 32]);
    cd_size = le64(&f[z + 40]);
    cd_offset = le64(&f[z + 48]);
  }
  HPCNN_CHECK(cd_offset <= size && cd_size <= size - cd_offset, name, ": zip directory lies outside the file");

  // The directory first: every member's declared size is checked before anything is inflated.
  std::vector<ZipMember> members;
  uint64_t declared = 0;
  uint64_t p = cd_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    HPCNN_CHECK(p + 46 <= cd_offset + cd_size && le32(&f[p]) == 0x02014b50, name, ": damaged zip directory entry ", i);
    const uint16_t flags = le16(&f[p + 8]);
    const uint16_t method = le16(&f[p + 10]);
    const uint32_t crc = le32(&f[p + 16]);
    uint64_t csize = le32(&f[p + 20]), usize = le32(&f[p + 24]);
    const uint16_t name_len = le16(&f[p + 28]), extra_len = le16(&f[p + 30]), comment_len = le16(&f[p + 32]);
    uint64_t local = le32(&f[p + 42]);
    HPCNN_CHECK(p + 46 + name_len + extra_len + comment_len <= cd_offset + cd_size, name, ": damaged zip directory");
    const std::string member(reinterpret_cast<const char*>(&f[p + 46]), name_len);
    // zip64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in order.
    for (uint64_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
      const uint16_t id = le16(&f[x]), len = le16(&f[x + 2]);
      if (id == 0x0001) {
        uint64_t q = x + 4;
        const uint64_t end = std::min<uint64_t>(q + len, p + 46 + name_len + extra_len);
        if (usize == 0xFFFFFFFF && q + 8 <= end) usize = le64(&f[q]), q += 8;
        if (csize == 0xFFFFFFFF && q + 8 <= end) csize = le64(&f[q]), q += 8;
        if (local == 0xFFFFFFFF && q + 8 <= end) local = le64(&f[q]);
      }
      x += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    HPCNN_CHECK((flags & 1) == 0, name, ": member ", member, " is encrypted");
    HPCNN_CHECK(size >= 30 && local <= size - 30 && le32(&f[local]) == 0x04034b50, name, ": damaged local header of ",
                member);
    const uint64_t data = local + 30 + le16(&f[local + 26]) + le16(&f[local + 28]);
    HPCNN_CHECK(data <= size && csize <= size - data, name, ": member ", member, " runs past the end of the file");
    HPCNN_CHECK(usize <= kMaxNpzBytes, name, ": member ", member, " is larger than ", kMaxNpzBytes, " bytes");
    if (method == 0) {
      HPCNN_CHECK(csize == usize, name, ": member ", member, " is stored with inconsistent sizes");
    } else if (method == 8) {
      // deflate expands at most ~1032:1: a larger promise is a damaged directory, not a reason to allocate it
      HPCNN_CHECK(usize <= csize * 1032 + 1024, name, ": member ", member, " claims ", usize, " bytes from ", csize,
                  " compressed (damaged directory)");
      // Image and label arrays compress a few times, not hundreds: a large
      // member at a bomb's ratio (4 MB of zeros declaring 4 GB) is refused
      // before a byte of it is allocated or inflated.
      HPCNN_CHECK(usize <= kNpzBombBytes || usize <= csize * kNpzBombRatio, name, ": member ", member, " declares ",
                  usize, " bytes from ", csize, " compressed (", usize / std::max<uint64_t>(csize, 1),
                  ":1): refused as a decompression bomb (above ", kNpzBombBytes, " bytes, at most ", kNpzBombRatio,
                  ":1 is accepted)");
    } else {
      HPCNN_THROW(name, ": member ", member, " uses zip compression method ", method, " (only stored and deflate)");
    }
    declared += usize;
    HPCNN_CHECK(declared <= kMaxNpzBytes, name, ": the members declare more than ", kMaxNpzBytes,
                " bytes in all (limit)");
    members.push_back({member, method, crc, csize, usize, data});
  }

  std::map<std::string, NpyArray> arrays;
  for (const ZipMember& m : members) {
    const std::string& member = m.name;
    const std::string what = name + ":" + member;
    // The .npy header from the member's first bytes: its shape must need
    // exactly the size the directory declares, before the rest is inflated.
    {
      std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(m.usize, kMaxNpyHeaderBytes + 16)));
      if (m.method == 0) {
        std::copy_n(f.begin() + static_cast<std::ptrdiff_t>(m.data), head.size(), head.begin());
      } else {
        head.resize(static_cast<size_t>(inflate_into(&f[m.data], m.csize, head, what).first));
      }
      const NpyHeader h = parse_npy_header(head, what);
      HPCNN_CHECK(h.data_offset + h.payload_bytes == m.usize, what, ": shape ", h.shape_text, " of ",
                  h.array.dtype_name(), " needs ", h.data_offset + h.payload_bytes,
                  " bytes with its header but the zip directory declares ", m.usize);
    }
    std::vector<uint8_t> bytes;
    if (m.method == 0) {
      bytes.assign(f.begin() + static_cast<std::ptrdiff_t>(m.data),
                   f.begin() + static_cast<std::ptrdiff_t>(m.data + m.csize));
    } else {
      bytes.resize(m.usize);
      const auto [written, ended] = inflate_into(&f[m.data], m.csize, bytes, what);
      HPCNN_CHECK(ended && written == m.usize, name, ": member ", member, " is damaged (",
                  written == m.usize ? "it inflates past the size its directory entry declares: stopped there"
                                     : "inflate failed or sizes differ",
                  ")");
    }
    const uint32_t crc = m.crc;
    uLong c = crc32(0L, Z_NULL, 0);
    for (uint64_t off = 0; off < bytes.size(); off += 1u << 30) {
      const auto n = static_cast<uInt>(std::min<uint64_t>(bytes.size() - off, 1u << 30));
      c = crc32(c, bytes.data() + off, n);
    }
    HPCNN_CHECK(c == crc, name, ": member ", member, " fails its CRC-32 check (damaged file)");
    std::string key = member;
    if (key.size() > 4 && key.ends_with(".npy")) key.resize(key.size() - 4);
    arrays.emplace(key, parse_npy(bytes, name + ":" + member));
  }
  HPCNN_CHECK(!arrays.empty(), name, ": the archive holds no arrays");
  return arrays;
}

void resize_bilinear(const uint8_t* src, int64_t src_h, int64_t src_w, uint8_t* dst, int64_t dst_h, int64_t dst_w) {
  const double sy = static_cast<double>(src_h) / static_cast<double>(dst_h);
  const double sx = static_cast<double>(src_w) / static_cast<double>(dst_w);
  for (int64_t y = 0; y < dst_h; ++y) {
    const double fy = std::clamp((static_cast<double>(y) + 0.5) * sy - 0.5, 0.0, static_cast<double>(src_h - 1));
    const auto y0 = static_cast<int64_t>(fy);
    const int64_t y1 = std::min(y0 + 1, src_h - 1);
    const double wy = fy - static_cast<double>(y0);
    for (int64_t x = 0; x < dst_w; ++x) {
      const double fx = std::clamp((static_cast<double>(x) + 0.5) * sx - 0.5, 0.0, static_cast<double>(src_w - 1));
      const auto x0 = static_cast<int64_t>(fx);
      const int64_t x1 = std::min(x0 + 1, src_w - 1);
      const double wx = fx - static_cast<double>(x0);
      const double top = src[y0 * src_w + x0] * (1 - wx) + src[y0 * src_w + x1] * wx;
      const double bottom = src[y1 * src_w + x0] * (1 - wx) + src[y1 * src_w + x1] * wx;
      dst[y * dst_w + x] = static_cast<uint8_t>(std::lround(top * (1 - wy) + bottom * wy));
    }
  }
}

namespace {
struct Images {
  int64_t count = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  ///< count * height * width
  std::vector<int32_t> labels;
};

const NpyArray& find_array(const std::map<std::string, NpyArray>& arrays, const std::string& key,
                           const std::string& file) {
  const auto it = arrays.find(key);
  if (it != arrays.end()) return it->second;
  std::string have;
  for (const auto& [k, v] : arrays) have += (have.empty() ? "" : ", ") + k;
  HPCNN_THROW(file, ": no array '", key, "' (the archive holds: ", have, ")");
}

/// Checks and converts one images/labels pair to uint8 (N, H, W) and int labels.
Images convert(const NpyArray& x, const std::string& x_name, const NpyArray& y, const std::string& y_name,
               const ImportNpzConfig& config) {
  Images out;
  HPCNN_CHECK(!x.shape.empty() && x.shape[0] > 0, x_name, ": no images (shape has no samples)");
  out.count = static_cast<int64_t>(x.shape[0]);
  std::vector<uint64_t> s = x.shape;
  if (s.size() == 4 && s[1] == 1) s.erase(s.begin() + 1);  // (N, 1, H, W)
  if (s.size() == 4 && s[3] == 1) s.pop_back();            // (N, H, W, 1)
  if (s.size() == 2) {
    const auto d = static_cast<int64_t>(s[1]);
    if (config.image_height > 0) {
      HPCNN_CHECK(config.image_height * config.image_width == d, x_name, ": rows of ", d,
                  " values cannot be --image-shape ", config.image_height, "x", config.image_width);
      out.height = config.image_height;
      out.width = config.image_width;
    } else {
      const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(d))));
      HPCNN_CHECK(side * side == d, x_name, ": rows of ", d, " values are not square images; give --image-shape HxW");
      out.height = out.width = side;
    }
  } else {
    HPCNN_CHECK(s.size() == 3, x_name, ": images must be (N, H, W), (N, 1, H, W), (N, H, W, 1) or (N, H*W); found ",
                x.shape.size(), " dimensions");
    out.height = static_cast<int64_t>(s[1]);
    out.width = static_cast<int64_t>(s[2]);
    HPCNN_CHECK(config.image_height == 0 || (config.image_height == out.height && config.image_width == out.width),
                x_name, ": images are ", out.height, "x", out.width, " but --image-shape says ", config.image_height,
                "x", config.image_width);
  }
  HPCNN_CHECK(out.height > 0 && out.width > 0, x_name, ": empty images");
  HPCNN_CHECK(x.kind != 'b', x_name, ": boolean images are not supported");

  std::vector<uint64_t> ys = y.shape;
  if (ys.size() == 2 && ys[1] == 1) ys.pop_back();
  HPCNN_CHECK(ys.size() == 1, y_name, ": labels must be one dimension (N,) or (N, 1); found ", y.shape.size(),
              " dimensions");
  HPCNN_CHECK(static_cast<int64_t>(ys[0]) == out.count, y_name, ": ", ys[0], " labels for ", out.count, " images in ",
              x_name);
  out.labels.resize(static_cast<size_t>(out.count));
  for (int64_t i = 0; i < out.count; ++i) {
    const double v = y.value(static_cast<uint64_t>(i));
    HPCNN_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v) && v < static_cast<double>(kMaxClasses), y_name,
                ": label ", i, " is ", v, " (labels must be whole numbers from 0)");
    out.labels[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }

  const int64_t elems = out.height * out.width;
  out.pixels.resize(static_cast<size_t>(out.count * elems));
  const double scale = 255.0 / config.max_value;
  const bool raw = x.kind == 'u' && x.item_size == 1 && config.max_value == 255.0;
  for (uint64_t i = 0; i < out.pixels.size(); ++i) {
    if (raw) {
      out.pixels[i] = x.bytes[i];
      continue;
    }
    const double v = x.value(i);
    HPCNN_CHECK(std::isfinite(v) && v >= 0 && v <= config.max_value, x_name, ": value ", v, " of image ",
                static_cast<int64_t>(i) / elems, " is outside [0, ", config.max_value, "] (see --max-value)");
    out.pixels[i] = static_cast<uint8_t>(std::lround(v * scale));
  }
  return out;
}

void resize_all(Images& im, int64_t h, int64_t w) {
  if (h == 0 || (h == im.height && w == im.width)) return;
  std::vector<uint8_t> out(static_cast<size_t>(im.count * h * w));
  for (int64_t i = 0; i < im.count; ++i) {
    resize_bilinear(im.pixels.data() + i * im.height * im.width, im.height, im.width, out.data() + i * h * w, h, w);
  }
  im.pixels = std::move(out);
  im.height = h;
  im.width = w;
}

std::string first_present(const std::map<std::string, NpyArray>& arrays, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (arrays.count(k)) return k;
  }
  return "";
}
}  // namespace

Manifest import_npz(const ImportNpzConfig& config, const Logger& log) {
  HPCNN_CHECK(!config.out.empty(), "no output directory given");
  HPCNN_CHECK(config.max_value > 0, "--max-value must be positive");
  if (config.force) require_replaceable_dataset(config.out);
  const std::string file = config.input.string();
  // 1. Parse and check every input before writing anything.
  const std::map<std::string, NpyArray> arrays = read_npz(config.input);
  const std::string x_key =
      !config.images_key.empty() ? config.images_key : first_present(arrays, {"x_train", "x", "images", "X"});
  const std::string y_key =
      !config.labels_key.empty() ? config.labels_key : first_present(arrays, {"y_train", "y", "labels", "Y"});
  HPCNN_CHECK(!x_key.empty(), file, ": no images array (x_train, x, images or X); name it with --images");
  HPCNN_CHECK(!y_key.empty(), file, ": no labels array (y_train, y, labels or Y); name it with --labels");
  std::string xt_key = config.test_images_key, yt_key = config.test_labels_key;
  if (xt_key.empty() && yt_key.empty() && arrays.count("x_test") && arrays.count("y_test")) {
    xt_key = "x_test";
    yt_key = "y_test";
  }
  HPCNN_CHECK(xt_key.empty() == yt_key.empty(), "test images and test labels must be given together");
  const bool has_test_arrays = !xt_key.empty();
  HPCNN_CHECK(!(has_test_arrays && config.test_fraction > 0), file, ": has test arrays (", xt_key, ", ", yt_key,
              "); --test-fraction applies only to a file without them");

  Images pool = convert(find_array(arrays, x_key, file), file + ":" + x_key, find_array(arrays, y_key, file),
                        file + ":" + y_key, config);
  Images test;
  if (has_test_arrays) {
    test = convert(find_array(arrays, xt_key, file), file + ":" + xt_key, find_array(arrays, yt_key, file),
                   file + ":" + yt_key, config);
    HPCNN_CHECK(test.height == pool.height && test.width == pool.width, file, ":", xt_key, ": image size ", test.height,
                "x", test.width, " differs from the training images' ", pool.height, "x", pool.width);
  }
  const int64_t stored_h = pool.height, stored_w = pool.width;
  resize_all(pool, config.resize_height, config.resize_width);
  resize_all(test, config.resize_height, config.resize_width);

  int max_label = 0;
  for (int32_t l : pool.labels) max_label = std::max(max_label, l);
  for (int32_t l : test.labels) max_label = std::max(max_label, l);
  const int num_classes = config.num_classes > 0 ? config.num_classes : max_label + 1;
  HPCNN_CHECK(max_label < num_classes, "labels go up to ", max_label, " but --classes is ", num_classes);

  // Order: a seeded shuffle of the pool (0: as stored); then test, train, validation.
  std::vector<int64_t> order(static_cast<size_t>(pool.count));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (config.seed != 0) {
    Rng rng(derive_key({config.seed, 0x6e707a}));
    shuffle(std::span<int64_t>(order), rng);
  }
  const auto n_test =
      has_test_arrays ? 0 : static_cast<int64_t>(std::llround(config.test_fraction * static_cast<double>(pool.count)));
  const int64_t n_rest = pool.count - n_test;
  const auto n_validation =
      static_cast<int64_t>(std::llround(config.validation_fraction * static_cast<double>(n_rest)));
  const int64_t n_train = n_rest - n_validation;
  HPCNN_CHECK(n_train > 0, "--test-fraction ", config.test_fraction, " and --validation-fraction ",
              config.validation_fraction, " leave no training samples of ", pool.count);

  Manifest m;
  m.name = config.name;
  m.task = Task::kClassification;
  m.sample_type = SampleType::kUInt8;
  m.sample_shape = {1, pool.height, pool.width};
  m.num_classes = num_classes;
  m.class_names = config.class_names;
  if (m.class_names.empty()) {
    for (int c = 0; c < num_classes; ++c) m.class_names.push_back(std::to_string(c));
  }
  HPCNN_CHECK(static_cast<int>(m.class_names.size()) == num_classes, "got ", m.class_names.size(), " class names for ",
              num_classes, " classes");
  m.source = cat("npz: ", fs::absolute(config.input).string(), " (", x_key, ", ", y_key,
                 has_test_arrays ? ", " + xt_key + ", " + yt_key : std::string(), "; ", stored_h, "x", stored_w,
                 (pool.height != stored_h || pool.width != stored_w)
                     ? cat(" resized bilinear to ", pool.height, "x", pool.width)
                     : std::string(),
                 "; values 0..", config.max_value, " -> 0..255; shuffle seed ", config.seed,
                 n_test > 0 ? cat("; test fraction ", config.test_fraction) : std::string(), ")");

  // 2. Write the shards into a staging directory; rename it into place at the end.
  StagingDir staging(config.out, config.force);
  WriteOptions options;
  options.num_shards = config.shards;
  options.deflate_level = config.deflate_level;
  const int64_t elems = m.sample_elements();
  // Samples [offset, offset + n) of `positions` (indices into src), or of src itself when positions is null.
  auto copy_from = [&](const Images& src, const std::vector<int64_t>* positions, int64_t offset) {
    return [&src, positions, offset, elems](SampleBlock& block) {
      for (int64_t i = 0; i < block.count; ++i) {
        const int64_t k = offset + block.first_index + i;
        const int64_t s = positions ? (*positions)[static_cast<size_t>(k)] : k;
        std::memcpy(block.samples_u8.data() + i * elems, src.pixels.data() + s * elems, static_cast<size_t>(elems));
        block.labels[static_cast<size_t>(i)] = src.labels[static_cast<size_t>(s)];
      }
    };
  };
  auto progress = [&](const std::string& split) {
    return [&log, split](int64_t done, int64_t total) {
      log.progress(cat("import ", split, ": ", done, "/", total, " samples"));
    };
  };
  write_split(staging.path(), m, "train", n_train, options, copy_from(pool, &order, n_test), progress("train"));
  log.end_progress();
  if (n_validation > 0) {
    write_split(staging.path(), m, "validation", n_validation, options, copy_from(pool, &order, n_test + n_train),
                progress("validation"));
    log.end_progress();
  }
  if (has_test_arrays) {
    write_split(staging.path(), m, "test", test.count, options, copy_from(test, nullptr, 0), progress("test"));
    log.end_progress();
  } else if (n_test > 0) {
    write_split(staging.path(), m, "test", n_test, options, copy_from(pool, &order, 0), progress("test"));
    log.end_progress();
  }
  save_manifest(staging.path(), m);
  staging.commit();
  return m;
}

}  // namespace hpcnn::data
