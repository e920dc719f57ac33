// The hpcnn-inference file (docs/formats.md): writing it, and reading it
// back as strictly as a checkpoint. A file may come from anywhere (a colleague,
// a download), and the engine trusts what it is given: it indexes tensors by
// the ops' numbers and sizes its loops by their shapes. So the loader reads
// every integer as int64 and range-checks it before narrowing, recomputes
// each op's output shape from its input, kernel, stride, pads and groups and
// compares it with the stored one, requires each dataset's exact type and
// dims, and refuses non-finite weights and non-positive scales; a refusal
// names the file, the op (index and kind) and the field. No oneDNN here: the
// fuzz build (tests/fuzz/fuzz_inference.cpp) links this file alone.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/h5.hpp"
#include "quant/inference_graph.hpp"

namespace fs = std::filesystem;

namespace hpcnn::quant {

using model::Shape;

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kConv: return "conv";
    case OpKind::kDense: return "dense";
    case OpKind::kAffine: return "affine";
    case OpKind::kRelu: return "relu";
    case OpKind::kRelu6: return "relu6";
    case OpKind::kAdd: return "add";
    case OpKind::kGlobalAvgPool: return "gap";
    case OpKind::kMaxPool: return "maxpool";
    case OpKind::kPad: return "pad";
  }
  return "?";
}

int64_t Graph::weight_bytes() const {
  int64_t bytes = 0;
  for (const Op& op : ops) {
    if (int8 && has_weights(op.kind)) {
      bytes += static_cast<int64_t>(op.qweights.size() + 4 * (op.wscales.size() + op.bias.size()));
    } else {
      bytes += static_cast<int64_t>(4 * (op.weights.size() + op.bias.size()));
    }
  }
  return bytes;
}

namespace {

/// The file format's version this code writes and reads.
constexpr int64_t kVersion = 1;
/// Tensors (and so ops) in one graph: far above any model (ResNet-50 folds
/// to about 120), low enough that the per-tensor tables stay small.
constexpr int64_t kMaxTensors = int64_t{1} << 20;

const char* act_name(kernels::Activation a) {
  return a == kernels::Activation::kRelu ? "relu" : (a == kernels::Activation::kRelu6 ? "relu6" : "none");
}

std::string shape_text(const Shape& s) { return cat(s.c, "x", s.h, "x", s.w); }
std::string float_text(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

/// `message` without a leading "PATH: " (the h5 wrappers name the file; the
/// loader adds it once, in front of the op).
std::string without_path(const std::string& message, const fs::path& path) {
  const std::string prefix = path.string() + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

/// Reads one hpcnn-inference file; every refusal is an Error whose message
/// starts with the field (load_graph puts the file and the op in front).
class Reader {
 public:
  explicit Reader(const h5::File& f) : f_(f) {}

  /// An integer attribute in [lo, hi], checked as int64 before anyone narrows it.
  int64_t integer(const std::string& name, const std::string& object, int64_t lo, int64_t hi) const {
    const int64_t v = f_.int_attribute(name, object);
    HPCNN_CHECK(v >= lo && v <= hi, "'", name, "' is ", v, " (expected ", lo, " to ", hi, ")");
    return v;
  }

  /// A per-sample shape "CxHxW" of at most kMaxElements values.
  Shape shape(const std::string& name, const std::string& object) const {
    const std::string text = f_.string_attribute(name, object);
    Shape s;
    try {
      s = model::parse_shape(text);
    } catch (const Error& e) {
      HPCNN_THROW("'", name, "' is not a shape: ", e.message());
    }
    checked_mul(checked_mul(s.c, s.h, cat("'", name, "' ", text), kMaxElements), s.w, cat("'", name, "' ", text),
                kMaxElements);
    return s;
  }

  /// A decimal attribute (int8 input scales): finite and > 0.
  float positive_float(const std::string& name, const std::string& object) const {
    const std::string text = f_.string_attribute(name, object);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    HPCNN_CHECK(!text.empty() && end == text.c_str() + text.size() && std::isfinite(v) && v > 0 &&
                    v <= std::numeric_limits<float>::max() && static_cast<float>(v) > 0,
                "'", name, "' is '", text, "' (expected a finite number > 0)");
    return static_cast<float>(v);
  }

  /// A dataset of exactly `dims` stored as `type` (no silent conversion: int8
  /// weights in an "fp32" file are refused, not read as floats).
  template <typename T>
  std::vector<T> dataset(const std::string& name, h5::ElementType type, const std::vector<hsize_t>& dims) const {
    const std::string field = name.substr(name.rfind('/') + 1);
    HPCNN_CHECK(f_.exists(name), "'", field, "' dataset is missing");
    const h5::Dataset d = f_.open_dataset(name);
    HPCNN_CHECK(d.stored_type() == type, "'", field, "' is stored as ", h5::element_type_name(d.stored_type()),
                " (expected ", h5::element_type_name(type), ")");
    const std::vector<hsize_t> got = d.dims();
    HPCNN_CHECK(got == dims, "'", field, "' has shape ", dims_text(got), " (expected ", dims_text(dims), ")");
    hsize_t count = 1;
    for (hsize_t v : dims) count *= v;
    HPCNN_CHECK(d.storage_bytes() >= count * h5::element_size(type), "'", field,
                "' stores fewer bytes than its shape needs");
    std::vector<T> out(static_cast<size_t>(count));
    if (count > 0) d.read_all(type, out.data());
    return out;
  }

  /// Float32 values that must be finite (weights, biases), and > 0 when `positive` (scales).
  std::vector<float> floats(const std::string& name, const std::vector<hsize_t>& dims, bool positive = false) const {
    std::vector<float> v = dataset<float>(name, h5::ElementType::kFloat32, dims);
    const std::string field = name.substr(name.rfind('/') + 1);
    for (size_t i = 0; i < v.size(); ++i)
      HPCNN_CHECK(std::isfinite(v[i]) && (!positive || v[i] > 0), "'", field, "'[", i, "] is ", v[i], " (expected ",
                  positive ? "a finite number > 0)" : "a finite number)");
    return v;
  }

  bool exists(const std::string& name) const { return f_.exists(name); }

 private:
  static std::string dims_text(const std::vector<hsize_t>& dims) {
    std::string s = "(";
    for (size_t i = 0; i < dims.size(); ++i) s += cat(i > 0 ? ", " : "", dims[i]);
    return s + ")";
  }
  const h5::File& f_;
};

OpKind parse_op_kind(const std::string& text) {
  for (OpKind k : {OpKind::kConv, OpKind::kDense, OpKind::kAffine, OpKind::kRelu, OpKind::kRelu6, OpKind::kAdd,
                   OpKind::kGlobalAvgPool, OpKind::kMaxPool, OpKind::kPad}) {
    if (text == op_kind_name(k)) return k;
  }
  HPCNN_THROW("'kind' is '", text, "' (expected conv, dense, affine, relu, relu6, add, gap, maxpool or pad)");
}

kernels::Activation parse_act(const std::string& text) {
  if (text == "relu") return kernels::Activation::kRelu;
  if (text == "relu6") return kernels::Activation::kRelu6;
  HPCNN_CHECK(text == "none", "'activation' is '", text, "' (expected none, relu or relu6)");
  return kernels::Activation::kNone;
}

/// Whether an op may read a tensor of shape `data` as `in`: the same shape,
/// or flattened to (C x H x W, 1, 1) as a flatten layer leaves it (the data stays
/// where it is). Another tensor of the same element count is not enough.
bool reads_as(const Shape& in, const Shape& data) { return in == data || in == Shape{data.size(), 1, 1}; }

/// The (C, H, W) an op of this kind writes, from its input and geometry: what
/// the engine's loops and oneDNN's descriptors assume. Throws naming the field
/// when the geometry cannot apply to the input.
Shape expected_output(const Op& op) {
  const Shape& in = op.in;
  const std::string what = "output size";
  switch (op.kind) {
    case OpKind::kConv: {
      HPCNN_CHECK(in.c % op.groups == 0 && op.out.c % op.groups == 0, "'groups' ", op.groups,
                  " does not divide the input channels (", in.c, ") and the output channels (", op.out.c, ")");
      const int64_t h = checked_add(checked_add(in.h, op.pad_top, what), op.pad_bottom, what);
      const int64_t w = checked_add(checked_add(in.w, op.pad_left, what), op.pad_right, what);
      HPCNN_CHECK(op.kernel <= h && op.kernel <= w, "'kernel' ", op.kernel, " is larger than the padded input ", h, "x",
                  w);
      return {op.out.c, (h - op.kernel) / op.stride + 1, (w - op.kernel) / op.stride + 1};
    }
    case OpKind::kMaxPool:
      HPCNN_CHECK(op.kernel <= in.h && op.kernel <= in.w, "'kernel' ", op.kernel, " is larger than the input ", in.h,
                  "x", in.w);
      return {in.c, (in.h - op.kernel) / op.stride + 1, (in.w - op.kernel) / op.stride + 1};
    case OpKind::kPad:
      return {in.c, checked_add(checked_add(in.h, op.pad_top, what), op.pad_bottom, what),
              checked_add(checked_add(in.w, op.pad_left, what), op.pad_right, what)};
    case OpKind::kDense: return {op.out.c, 1, 1};
    case OpKind::kGlobalAvgPool: return {in.c, 1, 1};
    case OpKind::kAffine:
    case OpKind::kRelu:
    case OpKind::kRelu6:
    case OpKind::kAdd: return in;
  }
  return in;
}

/// Reads op `k` (ops/NNN) into `op`, checking it against the tensors written
/// so far (`shape_of`, `written`).
void read_op(const h5::File& f, const Reader& r, bool int8, int64_t k, int64_t num_tensors,
             const std::vector<Shape>& shape_of, const std::vector<bool>& written, Op& op) {
  char name[32];
  std::snprintf(name, sizeof name, "ops/%03lld", static_cast<long long>(k));
  const std::string base = name;
  op.layers = f.string_attribute("layers", base);
  // Tensors: read earlier (every op's inputs come before it), written once.
  const int64_t last = num_tensors - 1;
  const auto source = [&](const char* field) {
    const int64_t t = r.integer(field, base, 0, last);
    HPCNN_CHECK(written[static_cast<size_t>(t)], "'", field, "' is tensor ", t, ", which no earlier op writes");
    return static_cast<int>(t);
  };
  op.src = source("src");
  if (op.kind == OpKind::kAdd) {
    op.src2 = source("src2");
  } else {
    op.src2 = static_cast<int>(r.integer("src2", base, -1, -1));
  }
  const int64_t dst = r.integer("dst", base, 1, last);
  HPCNN_CHECK(!written[static_cast<size_t>(dst)], "'dst' is tensor ", dst, ", which an earlier op writes already");
  op.dst = static_cast<int>(dst);
  // Geometry: only the ops that use a field may set it.
  const bool windowed = op.kind == OpKind::kConv || op.kind == OpKind::kMaxPool;
  const bool padded = op.kind == OpKind::kConv || op.kind == OpKind::kPad;
  op.kernel = r.integer("kernel", base, 1, windowed ? model::kMaxWindow : 1);
  op.stride = r.integer("stride", base, 1, windowed ? model::kMaxWindow : 1);
  op.groups = r.integer("groups", base, 1, op.kind == OpKind::kConv ? kMaxElements : 1);
  op.pad_top = r.integer("pad_top", base, 0, padded ? kMaxElements : 0);
  op.pad_bottom = r.integer("pad_bottom", base, 0, padded ? kMaxElements : 0);
  op.pad_left = r.integer("pad_left", base, 0, padded ? kMaxElements : 0);
  op.pad_right = r.integer("pad_right", base, 0, padded ? kMaxElements : 0);
  op.act = parse_act(f.string_attribute("activation", base));
  HPCNN_CHECK(op.act == kernels::Activation::kNone || has_weights(op.kind), "'activation' is '",
              f.string_attribute("activation", base), "' (only conv and dense fuse one)");
  // Shapes: the input is its source tensor's (or that flattened, as after a
  // flatten layer); the output is what the geometry gives.
  op.in = r.shape("in", base);
  op.out = r.shape("out", base);
  const Shape& s = shape_of[static_cast<size_t>(op.src)];
  HPCNN_CHECK(reads_as(op.in, s), "'in' is ", shape_text(op.in), " but tensor ", op.src, " ('src') is ", shape_text(s));
  if (op.kind == OpKind::kAdd) {
    const Shape& s2 = shape_of[static_cast<size_t>(op.src2)];
    HPCNN_CHECK(reads_as(op.in, s2), "'in' is ", shape_text(op.in), " but tensor ", op.src2, " ('src2') is ",
                shape_text(s2));
  }
  const Shape want = expected_output(op);
  HPCNN_CHECK(op.out == want, "'out' is ", shape_text(op.out), " but 'in' ", shape_text(op.in), " with kernel ",
              op.kernel, ", stride ", op.stride, ", pads ", op.pad_top, "/", op.pad_bottom, "/", op.pad_left, "/",
              op.pad_right, " gives ", shape_text(want));
  // Data: exactly the datasets the kind has, in the precision the file says.
  const bool scaled = f.has_attribute("input_scale", base) || f.has_attribute("input_unsigned", base) ||
                      r.exists(base + "/weight_scales");
  if (has_weights(op.kind)) {
    const int64_t oc = op.kind == OpKind::kConv ? op.out.c : op.out.size();
    const std::string what = "'weights' size";
    const std::vector<hsize_t> dims =
        op.kind == OpKind::kConv
            ? std::vector<hsize_t>{static_cast<hsize_t>(op.out.c), static_cast<hsize_t>(op.in.c / op.groups),
                                   static_cast<hsize_t>(op.kernel), static_cast<hsize_t>(op.kernel)}
            : std::vector<hsize_t>{static_cast<hsize_t>(op.out.size()), static_cast<hsize_t>(op.in.size())};
    int64_t count = 1;
    for (hsize_t d : dims) count = checked_mul(count, static_cast<int64_t>(d), what, kMaxElements);
    if (int8) {
      op.qweights = r.dataset<int8_t>(base + "/weights", h5::ElementType::kInt8, dims);
      op.wscales = r.floats(base + "/weight_scales", {static_cast<hsize_t>(oc)}, /*positive=*/true);
      op.quant.scale = r.positive_float("input_scale", base);
      op.quant.is_unsigned = r.integer("input_unsigned", base, 0, 1) != 0;
    } else {
      HPCNN_CHECK(!scaled, "has int8 quantisation ('weight_scales', 'input_scale') in a file whose precision is fp32");
      op.weights = r.floats(base + "/weights", dims);
    }
    op.bias = r.floats(base + "/bias", {static_cast<hsize_t>(oc)});
  } else {
    HPCNN_CHECK(!scaled, "has int8 quantisation ('weight_scales', 'input_scale'), which only conv and dense take");
    if (op.kind == OpKind::kAffine) {
      op.weights = r.floats(base + "/weights", {static_cast<hsize_t>(op.out.c)});
      op.bias = r.floats(base + "/bias", {static_cast<hsize_t>(op.out.c)});
    } else {
      HPCNN_CHECK(!r.exists(base + "/weights") && !r.exists(base + "/bias"), "has 'weights' or 'bias', which a ",
                  op_kind_name(op.kind), " op does not take");
    }
  }
}

/// The first field where `got` (from the file) differs from `want` (folded
/// from its model_text), as "'field' is X but ... folds to Y"; "" when none.
std::string first_difference(const Op& got, const Op& want) {
  const auto differs = [](const char* field, const auto& a, const auto& b) {
    return cat("'", field, "' is ", a, " but the model ('model_text') folds to ", b);
  };
  if (got.kind != want.kind) return differs("kind", op_kind_name(got.kind), op_kind_name(want.kind));
  for (const auto& [field, a, b] : {std::tuple<const char*, int64_t, int64_t>{"src", got.src, want.src},
                                    {"src2", got.src2, want.src2},
                                    {"dst", got.dst, want.dst},
                                    {"kernel", got.kernel, want.kernel},
                                    {"stride", got.stride, want.stride},
                                    {"groups", got.groups, want.groups},
                                    {"pad_top", got.pad_top, want.pad_top},
                                    {"pad_bottom", got.pad_bottom, want.pad_bottom},
                                    {"pad_left", got.pad_left, want.pad_left},
                                    {"pad_right", got.pad_right, want.pad_right}})
    if (a != b) return differs(field, a, b);
  if (got.in != want.in) return differs("in", shape_text(got.in), shape_text(want.in));
  if (got.out != want.out) return differs("out", shape_text(got.out), shape_text(want.out));
  if (got.act != want.act) return differs("activation", act_name(got.act), act_name(want.act));
  if (got.layers != want.layers) return differs("layers", "'" + got.layers + "'", "'" + want.layers + "'");
  return "";
}

}  // namespace

void save_graph(const fs::path& path, const Graph& g) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp." + std::to_string(getpid());
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  try {
    h5::File f = h5::File::create(tmp);
    f.set_attribute("format", std::string("hpcnn-inference"));
    f.set_attribute("version", kVersion);
    f.set_attribute("precision", std::string(g.int8 ? "int8" : "fp32"));
    f.set_attribute("model_name", g.model_name);
    f.set_attribute("model_text", g.model_text);
    f.set_attribute("input_shape", shape_text(g.input));
    f.set_attribute("loss", std::string(model::loss_name(g.loss)));
    f.set_attribute("num_tensors", static_cast<int64_t>(g.num_tensors));
    f.set_attribute("output", static_cast<int64_t>(g.output));
    f.set_attribute("num_ops", static_cast<int64_t>(g.ops.size()));
    f.set_attribute("weight_bytes", g.weight_bytes());
    f.set_attribute("dataset", g.dataset_name);
    f.set_attribute("sample_dtype", g.sample_dtype);
    f.set_attribute("class_names", nlohmann::json(g.class_names).dump());
    f.set_attribute("source", g.source);
    f.set_attribute("calibration", g.calibration);
    f.create_group("ops");
    for (size_t k = 0; k < g.ops.size(); ++k) {
      const Op& op = g.ops[k];
      char name[32];
      std::snprintf(name, sizeof name, "ops/%03zu", k);
      f.create_group(name);
      f.set_attribute("kind", std::string(op_kind_name(op.kind)), name);
      f.set_attribute("layers", op.layers, name);
      for (const auto& [key, v] : {std::pair<const char*, int64_t>{"src", op.src},
                                   {"src2", op.src2},
                                   {"dst", op.dst},
                                   {"kernel", op.kernel},
                                   {"stride", op.stride},
                                   {"groups", op.groups},
                                   {"pad_top", op.pad_top},
                                   {"pad_bottom", op.pad_bottom},
                                   {"pad_left", op.pad_left},
                                   {"pad_right", op.pad_right}})
        f.set_attribute(key, v, name);
      f.set_attribute("in", shape_text(op.in), name);
      f.set_attribute("out", shape_text(op.out), name);
      f.set_attribute("activation", std::string(act_name(op.act)), name);
      const std::string base = name;
      auto vec_dims = [](size_t n) { return std::vector<hsize_t>{static_cast<hsize_t>(n)}; };
      std::vector<hsize_t> wdims = vec_dims(op.weights.size() + op.qweights.size());
      if (op.kind == OpKind::kConv) {
        wdims = {static_cast<hsize_t>(op.out.c), static_cast<hsize_t>(op.in.c / op.groups),
                 static_cast<hsize_t>(op.kernel), static_cast<hsize_t>(op.kernel)};
      } else if (op.kind == OpKind::kDense) {
        wdims = {static_cast<hsize_t>(op.out.size()), static_cast<hsize_t>(op.in.size())};
      }
      if (!op.qweights.empty()) {
        f.write_small(base + "/weights", h5::ElementType::kInt8, wdims, op.qweights.data());
        f.write_small(base + "/weight_scales", h5::ElementType::kFloat32, vec_dims(op.wscales.size()),
                      op.wscales.data());
        f.set_attribute("input_scale", float_text(op.quant.scale), name);
        f.set_attribute("input_unsigned", int64_t{op.quant.is_unsigned ? 1 : 0}, name);
      } else if (!op.weights.empty()) {
        f.write_small(base + "/weights", h5::ElementType::kFloat32, wdims, op.weights.data());
      }
      if (!op.bias.empty())
        f.write_small(base + "/bias", h5::ElementType::kFloat32, vec_dims(op.bias.size()), op.bias.data());
    }
    f.flush();
    f.close();
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  rename_into_place(tmp, path);
}

bool is_inference_file(const fs::path& path) {
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  try {
    const h5::File f = h5::File::open_read(path);
    return f.has_attribute("format") && f.string_attribute("format") == "hpcnn-inference";
  } catch (const std::exception&) {
    return false;
  }
}

Graph load_graph(const fs::path& path) {
  std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
  const h5::File f = h5::File::open_read(path);
  HPCNN_CHECK(f.has_attribute("format") && f.string_attribute("format") == "hpcnn-inference", path.string(),
              ": not an hpcnn inference file (hpcnn quantize writes them)");
  const Reader r(f);
  Graph g;
  std::string where;  // the op being read, for the message
  try {
    const int64_t version = f.int_attribute("version");
    HPCNN_CHECK(version == kVersion, "'version' is ", version, " (this hpcnn reads version ", kVersion, ")");
    const std::string precision = f.string_attribute("precision");
    HPCNN_CHECK(precision == "int8" || precision == "fp32", "'precision' is '", precision, "' (expected int8 or fp32)");
    g.int8 = precision == "int8";
    g.model_name = f.string_attribute("model_name");
    g.model_text = f.string_attribute("model_text");
    g.input = r.shape("input_shape", "/");
    const std::string loss = f.string_attribute("loss");
    if (loss == model::loss_name(model::LossKind::kMeanSquaredError)) {
      g.loss = model::LossKind::kMeanSquaredError;
    } else {
      HPCNN_CHECK(loss == model::loss_name(model::LossKind::kSoftmaxCrossEntropy), "'loss' is '", loss, "' (expected ",
                  model::loss_name(model::LossKind::kSoftmaxCrossEntropy), " or ",
                  model::loss_name(model::LossKind::kMeanSquaredError), ")");
    }
    const int64_t num_tensors = r.integer("num_tensors", "/", 2, kMaxTensors);
    // Every op writes a tensor of its own, and tensor 0 is the input.
    const int64_t num_ops = r.integer("num_ops", "/", 1, num_tensors - 1);
    g.num_tensors = static_cast<int>(num_tensors);
    g.output = static_cast<int>(r.integer("output", "/", 1, num_tensors - 1));
    g.dataset_name = f.string_attribute("dataset");
    g.sample_dtype = f.string_attribute("sample_dtype");
    const auto names = nlohmann::json::parse(f.string_attribute("class_names"), nullptr, false);
    HPCNN_CHECK(names.is_array(), "'class_names' is not a JSON array");
    for (const auto& name : names) {
      HPCNN_CHECK(name.is_string(), "'class_names' holds a non-string");
      g.class_names.push_back(name.get<std::string>());
    }
    g.source = f.string_attribute("source");
    g.calibration = f.string_attribute("calibration");
    std::vector<Shape> shape_of(static_cast<size_t>(g.num_tensors));
    std::vector<bool> written(static_cast<size_t>(g.num_tensors), false);
    shape_of[0] = g.input;
    written[0] = true;
    for (int64_t k = 0; k < num_ops; ++k) {
      where = cat("op ", k, ": ");
      char name[32];
      std::snprintf(name, sizeof name, "ops/%03lld", static_cast<long long>(k));
      HPCNN_CHECK(f.exists(name), "'", name, "' is missing (the file says ", num_ops, " ops)");
      Op op;
      op.kind = parse_op_kind(f.string_attribute("kind", name));
      where = cat("op ", k, " (", op_kind_name(op.kind), "): ");
      read_op(f, r, g.int8, k, num_tensors, shape_of, written, op);
      written[static_cast<size_t>(op.dst)] = true;
      shape_of[static_cast<size_t>(op.dst)] = op.out;
      g.ops.push_back(std::move(op));
    }
    where.clear();
    HPCNN_CHECK(written[static_cast<size_t>(g.output)], "'output' is tensor ", g.output, ", which no op writes");
    // The ops must be the ones fold() makes of the model the file names: an
    // op pointed at another tensor of the same shape passes every check
    // above and computes a different function; only the model tells.
    const model::ModelSpec spec = [&] {
      try {
        return model::resolve(g.model_name, g.model_text, g.input);
      } catch (const Error& e) {
        HPCNN_THROW("'model_text' on 'input_shape' ", shape_text(g.input), " is not a model: ", e.message());
      }
    }();
    const Graph want = fold_structure(spec, g.loss);
    HPCNN_CHECK(want.ops.size() == g.ops.size() && want.num_tensors == g.num_tensors && want.output == g.output,
                "holds ", g.ops.size(), " ops on ", g.num_tensors, " tensors (output ", g.output,
                ") but the model ('model_text') folds to ", want.ops.size(), " ops on ", want.num_tensors,
                " tensors (output ", want.output, ")");
    for (size_t k = 0; k < g.ops.size(); ++k) {
      const std::string difference = first_difference(g.ops[k], want.ops[k]);
      HPCNN_CHECK(difference.empty(), "op ", k, " (", op_kind_name(g.ops[k].kind), "): ", difference);
    }
    const int64_t outputs = shape_of[static_cast<size_t>(g.output)].size();
    HPCNN_CHECK(g.class_names.empty() || static_cast<int64_t>(g.class_names.size()) == outputs, "'class_names' has ",
                g.class_names.size(), " names for a model with ", outputs, " outputs");
    const int64_t weight_bytes = f.int_attribute("weight_bytes");
    HPCNN_CHECK(weight_bytes == g.weight_bytes(), "'weight_bytes' is ", weight_bytes, " but the ops' weights take ",
                g.weight_bytes());
  } catch (const Error& e) {
    HPCNN_THROW(path.string(), ": ", where, without_path(e.message(), path));
  }
  return g;
}

}  // namespace hpcnn::quant
