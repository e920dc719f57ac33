// Model-string parsing, presets, shape inference and the summary table.
#include "model/model_spec.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <sstream>

#include "core/checked.hpp"
#include "core/error.hpp"

namespace hpcnn::model {

std::string Shape::str() const { return cat("(", c, ", ", h, ", ", w, ")"); }

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::kConv: return "conv";
    case LayerKind::kMaxPool: return "maxpool";
    case LayerKind::kDense: return "dense";
    case LayerKind::kRelu: return "relu";
    case LayerKind::kDropout: return "dropout";
    case LayerKind::kFlatten: return "flatten";
    case LayerKind::kBatchNorm: return "bn";
    case LayerKind::kRelu6: return "relu6";
    case LayerKind::kAdd: return "add";
    case LayerKind::kGlobalAvgPool: return "gap";
    case LayerKind::kZeroPad: return "zeropad";
  }
  return "unknown";
}

namespace {
std::string layer_text(const LayerSpec& l) {
  switch (l.kind) {
    case LayerKind::kConv: {
      const std::string options =
          cat(l.stride != 1 ? cat(":s", l.stride) : "", l.same_padding ? ":same" : "",
              !l.depthwise && l.groups != 1 ? cat(":g", l.groups) : "", l.bias ? "" : ":nobias");
      return l.depthwise ? cat("dwconv:", l.kernel, options) : cat("conv:", l.filters, "x", l.kernel, options);
    }
    case LayerKind::kMaxPool: return cat("maxpool:", l.kernel, l.stride != l.kernel ? cat(":s", l.stride) : "");
    case LayerKind::kDense: return cat("dense:", l.filters);
    case LayerKind::kDropout: return cat("dropout:", l.rate);
    case LayerKind::kBatchNorm:
      return cat("bn", l.epsilon != 1e-3 ? cat(":e", l.epsilon) : "", l.momentum != 0.99 ? cat(":m", l.momentum) : "");
    case LayerKind::kZeroPad:
      if (l.pad[0] == l.pad[1] && l.pad[1] == l.pad[2] && l.pad[2] == l.pad[3]) return cat("zeropad:", l.pad[0]);
      return cat("zeropad:", l.pad[0], ":", l.pad[1], ":", l.pad[2], ":", l.pad[3]);
    case LayerKind::kAdd: return cat("add:", l.from);
    case LayerKind::kRelu:
    case LayerKind::kRelu6:
    case LayerKind::kGlobalAvgPool:
    case LayerKind::kFlatten: return layer_kind_name(l.kind);
  }
  return "?";
}
}  // namespace

std::string LayerSpec::str() const { return name.empty() ? layer_text(*this) : cat(layer_text(*this), "@", name); }

namespace {
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream is(text);
  while (std::getline(is, item, sep)) out.push_back(item);
  return out;
}

/// A positive integer or an error naming the token.
int64_t positive(const std::string& s, const std::string& token) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  HPCNN_CHECK(!s.empty() && end != nullptr && *end == '\0' && v > 0 && v <= (1LL << 31), "model: bad number '", s,
              "' in '", token, "'");
  return v;
}

/// A number in [lo, hi] (a double), or an error naming the token.
double real_in(const std::string& s, double lo, double hi, const std::string& what, const std::string& token) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  HPCNN_CHECK(!s.empty() && end != nullptr && *end == '\0' && v >= lo && v <= hi, "model: ", what, " in '", token,
              "' must be a number in [", lo, ", ", hi, "]");
  return v;
}

/// A zero-or-positive integer (padding), or an error naming the token.
int64_t non_negative(const std::string& s, const std::string& token) { return s == "0" ? 0 : positive(s, token); }

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    return false;
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-')) return false;
  return true;
}

LayerSpec parse_layer(const std::string& token);

LayerSpec parse_token(const std::string& token) {
  const size_t at = token.rfind('@');
  if (at == std::string::npos) return parse_layer(token);
  const std::string name = token.substr(at + 1);
  HPCNN_CHECK(valid_name(name) && name != "input", "model: bad output name '", name, "' in '", token,
              "' (letters, digits, _ and -, starting with a letter; 'input' is the model's input)");
  LayerSpec l = parse_layer(token.substr(0, at));
  l.name = name;
  return l;
}

LayerSpec parse_layer(const std::string& token) {
  const std::vector<std::string> parts = split(token, ':');
  HPCNN_CHECK(!parts.empty(), "model: empty layer in '", token, "'");
  const std::string& head = parts[0];
  LayerSpec l;
  auto options = [&](size_t first, bool allow_padding) {
    for (size_t i = first; i < parts.size(); ++i) {
      const std::string& p = parts[i];
      if (p == "same" || p == "valid") {
        HPCNN_CHECK(allow_padding, "model: '", token, "': ", head, " takes no padding option (valid only)");
        l.same_padding = p == "same";
      } else if (p.size() > 1 && p[0] == 's') {
        l.stride = positive(p.substr(1), token);
      } else if (allow_padding && p.size() > 1 && p[0] == 'g' && !l.depthwise) {
        l.groups = positive(p.substr(1), token);
      } else if (allow_padding && p == "nobias") {
        l.bias = false;
      } else {
        HPCNN_THROW("model: unknown option '", p, "' in '", token, "'");
      }
    }
  };
  if (head == "conv") {
    HPCNN_CHECK(parts.size() >= 2, "model: '", token, "' needs filters and kernel, e.g. conv:32x3");
    const auto fk = split(parts[1], 'x');
    HPCNN_CHECK(fk.size() == 2, "model: '", token, "' needs FILTERSxKERNEL, e.g. conv:32x3");
    l.kind = LayerKind::kConv;
    l.filters = positive(fk[0], token);
    l.kernel = positive(fk[1], token);
    options(2, true);
    HPCNN_CHECK(l.kernel <= kMaxWindow && l.stride <= kMaxWindow, "model: '", token, "': kernel ", l.kernel,
                " and stride ", l.stride, " must be at most ", kMaxWindow);
  } else if (head == "dwconv") {
    HPCNN_CHECK(parts.size() >= 2, "model: '", token, "' needs a kernel size, e.g. dwconv:3");
    l.kind = LayerKind::kConv;
    l.depthwise = true;
    l.kernel = positive(parts[1], token);
    options(2, true);
    HPCNN_CHECK(l.kernel <= kMaxWindow && l.stride <= kMaxWindow, "model: '", token, "': kernel ", l.kernel,
                " and stride ", l.stride, " must be at most ", kMaxWindow);
  } else if (head == "bn") {
    l.kind = LayerKind::kBatchNorm;
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string& p = parts[i];
      if (p.size() > 1 && p[0] == 'e') {
        l.epsilon = real_in(p.substr(1), 1e-12, 1.0, "epsilon", token);
      } else if (p.size() > 1 && p[0] == 'm') {
        l.momentum = real_in(p.substr(1), 0.0, 1.0, "momentum", token);
      } else {
        HPCNN_THROW("model: unknown option '", p, "' in '", token, "' (bn[:eEPSILON][:mMOMENTUM])");
      }
    }
  } else if (head == "zeropad") {
    HPCNN_CHECK(parts.size() == 2 || parts.size() == 5, "model: '", token,
                "' needs one padding or four (top:bottom:left:right), e.g. zeropad:1 or zeropad:0:1:0:1");
    l.kind = LayerKind::kZeroPad;
    for (size_t i = 0; i < 4; ++i) l.pad[i] = non_negative(parts[parts.size() == 2 ? 1 : i + 1], token);
    HPCNN_CHECK(l.pad[0] <= kMaxWindow && l.pad[1] <= kMaxWindow && l.pad[2] <= kMaxWindow && l.pad[3] <= kMaxWindow,
                "model: '", token, "': padding must be at most ", kMaxWindow);
  } else if (head == "add") {
    HPCNN_CHECK(parts.size() == 2 && (valid_name(parts[1]) || parts[1] == "input"), "model: '", token,
                "' needs the name of an earlier output, e.g. add:b3 (name it with @b3)");
    l.kind = LayerKind::kAdd;
    l.from = parts[1];
  } else if (head == "relu6" && parts.size() == 1) {
    l.kind = LayerKind::kRelu6;
  } else if (head == "gap" && parts.size() == 1) {
    l.kind = LayerKind::kGlobalAvgPool;
  } else if (head == "maxpool") {
    HPCNN_CHECK(parts.size() >= 2, "model: '", token, "' needs a size, e.g. maxpool:2");
    l.kind = LayerKind::kMaxPool;
    l.kernel = positive(parts[1], token);
    l.stride = l.kernel;
    options(2, false);
    HPCNN_CHECK(l.kernel <= kMaxWindow && l.stride <= kMaxWindow, "model: '", token, "': size ", l.kernel,
                " and stride ", l.stride, " must be at most ", kMaxWindow);
  } else if (head == "dense") {
    HPCNN_CHECK(parts.size() == 2, "model: '", token, "' needs a width, e.g. dense:128");
    l.kind = LayerKind::kDense;
    l.filters = positive(parts[1], token);
  } else if (head == "dropout") {
    HPCNN_CHECK(parts.size() == 2, "model: '", token, "' needs a rate, e.g. dropout:0.5");
    char* end = nullptr;
    l.rate = std::strtod(parts[1].c_str(), &end);
    HPCNN_CHECK(end && *end == '\0' && l.rate >= 0.0 && l.rate < 1.0, "model: dropout rate in '", token,
                "' must be in [0, 1)");
    l.kind = LayerKind::kDropout;
  } else if (head == "relu" && parts.size() == 1) {
    l.kind = LayerKind::kRelu;
  } else if (head == "flatten" && parts.size() == 1) {
    l.kind = LayerKind::kFlatten;
  } else {
    HPCNN_THROW("model: unknown layer '", token,
                "' (known: conv, dwconv, maxpool, dense, relu, relu6, dropout, flatten, bn, gap, zeropad, add)");
  }
  return l;
}

/// Output size and padding of one spatial dimension. Inputs are at most
/// kMaxElements and k, s at most 2^31 (positive()), so nothing here overflows
/// int64; the checks say so anyway, naming the layer.
std::pair<int64_t, Padding> spatial(int64_t in, int64_t k, int64_t s, bool same, const std::string& where) {
  if (same) {
    const int64_t out = checked_add(in, s - 1, where) / s;
    const int64_t span = checked_add(checked_mul(out - 1, s, where), k, where);
    const int64_t total = std::max<int64_t>(span - in, 0);
    return {out, {total / 2, total - total / 2}};
  }
  return {in >= k ? (in - k) / s + 1 : 0, {}};
}

/// c * h * w of a per-sample shape, bounded by kMaxElements.
int64_t checked_size(const Shape& shape, const std::string& what) {
  return checked_mul(checked_mul(shape.c, shape.h, what, kMaxElements), shape.w, what, kMaxElements);
}
}  // namespace

std::vector<LayerSpec> parse_layers(const std::string& text) {
  std::vector<LayerSpec> layers;
  std::istringstream is(text);
  std::string token;
  while (is >> token) layers.push_back(parse_token(token));
  HPCNN_CHECK(!layers.empty(), "model: empty model string");
  return layers;
}

ModelSpec resolve(const std::string& name, const std::string& text, Shape input) {
  HPCNN_CHECK(input.c > 0 && input.h > 0 && input.w > 0, "model: bad input shape ", input.str());
  checked_size(input, cat("model: input shape ", input.str(), " has too many elements per sample"));
  ModelSpec m{name, text, input, {}};
  Shape cur = input;
  int index = 0;
  int64_t total_params = 0;
  std::map<std::string, std::pair<int, Shape>> named{{"input", {0, input}}};  // name -> (tensor, shape)
  for (LayerSpec spec : parse_layers(text)) {
    ++index;
    const std::string where = cat("model: layer ", index, " '", spec.str(), "' on input ", cur.str());
    if (spec.kind == LayerKind::kConv && spec.depthwise) {
      spec.filters = cur.c;
      spec.groups = cur.c;
    }
    ResolvedLayer r{spec, cur, cur, {}, {}, 0, 0, 0, -1};
    switch (spec.kind) {
      case LayerKind::kConv:
      case LayerKind::kMaxPool: {
        HPCNN_CHECK(spec.same_padding || (spec.kernel <= cur.h && spec.kernel <= cur.w), where,
                    ": kernel larger than its input");
        const auto [oh, ph] = spatial(cur.h, spec.kernel, spec.stride, spec.same_padding, where);
        const auto [ow, pw] = spatial(cur.w, spec.kernel, spec.stride, spec.same_padding, where);
        r.pad_h = ph;
        r.pad_w = pw;
        r.output = {spec.kind == LayerKind::kConv ? spec.filters : cur.c, oh, ow};
        if (spec.kind == LayerKind::kConv) {
          HPCNN_CHECK(cur.c % spec.groups == 0 && spec.filters % spec.groups == 0, where, ": ", spec.groups,
                      " groups must divide the input channels (", cur.c, ") and the filters (", spec.filters, ")");
          const std::string what = cat(where, ": weights (filters x channels/groups x kernel x kernel)");
          r.weights = checked_mul(checked_mul(checked_mul(spec.filters, cur.c / spec.groups, what, kMaxElements),
                                              spec.kernel, what, kMaxElements),
                                  spec.kernel, what, kMaxElements);
          r.bias = spec.bias ? spec.filters : 0;
        }
        break;
      }
      case LayerKind::kDense:
        HPCNN_CHECK(cur.h == 1 && cur.w == 1, where, ": dense needs a flat input (add flatten or gap before it)");
        r.output = {spec.filters, 1, 1};
        r.weights = checked_mul(spec.filters, cur.c, cat(where, ": weights (units x inputs)"), kMaxElements);
        r.bias = spec.filters;
        break;
      case LayerKind::kFlatten: r.output = {cur.size(), 1, 1}; break;
      case LayerKind::kBatchNorm:
        r.weights = cur.c;  // gamma
        r.bias = cur.c;     // beta
        r.state = 2 * cur.c;
        break;
      case LayerKind::kGlobalAvgPool: r.output = {cur.c, 1, 1}; break;
      case LayerKind::kZeroPad: {
        const std::string what = cat(where, ": padded size");
        r.output = {cur.c, checked_add(checked_add(cur.h, spec.pad[0], what), spec.pad[1], what),
                    checked_add(checked_add(cur.w, spec.pad[2], what), spec.pad[3], what)};
        break;
      }
      case LayerKind::kAdd: {
        const auto it = named.find(spec.from);
        HPCNN_CHECK(it != named.end(), where, ": no earlier output is named '", spec.from, "' (name one with @",
                    spec.from, ")");
        HPCNN_CHECK(it->second.second == cur, where, ": adds '", spec.from, "' of shape ", it->second.second.str(),
                    " to a tensor of shape ", cur.str(), " (they must match)");
        r.add_source = it->second.first;
        break;
      }
      case LayerKind::kRelu:
      case LayerKind::kRelu6:
      case LayerKind::kDropout: break;
    }
    checked_size(r.output, cat(where, ": output ", r.output.str(), " has too many elements per sample"));
    HPCNN_CHECK(r.output.size() > 0, where, ": output would be empty");
    total_params = checked_add(total_params, r.params(), cat(where, ": total parameter count"), kMaxElements);
    if (!spec.name.empty()) {
      HPCNN_CHECK(named.emplace(spec.name, std::pair{index, r.output}).second, where, ": the name '", spec.name,
                  "' is already taken");
    }
    cur = r.output;
    m.layers.push_back(r);
  }
  return m;
}

int64_t ModelSpec::trainable_params() const {
  int64_t n = 0;
  for (const ResolvedLayer& l : layers) n += l.trainable();
  return n;
}

size_t ModelSpec::layer_index(const std::string& what) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (!layers[i].spec.name.empty() && layers[i].spec.name == what) return i;
  char* end = nullptr;
  const long long v = std::strtoll(what.c_str(), &end, 10);
  HPCNN_CHECK(!what.empty() && end != nullptr && *end == '\0' && v >= 1 && v <= static_cast<long long>(layers.size()),
              "model '", name, "': no layer '", what, "' (a layer number 1..", layers.size(),
              " or a name given with @NAME in the model string)");
  return static_cast<size_t>(v - 1);
}

int64_t ModelSpec::total_params() const {
  int64_t n = 0;
  for (const ResolvedLayer& l : layers) n += l.params();
  return n;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets{
      {"tiny-cnn",
       "conv:4x2:same relu conv:4x2:same relu maxpool:4 flatten dense:128 relu dense:10",
       {1, 28, 28},
       "the 2018 report's GPU CNN (MNIST, 1 epoch)"},
      {"mnist-cnn",
       "conv:32x3 relu maxpool:2 flatten dense:64 relu dense:10",
       {1, 28, 28},
       "the math-character tool's CNN"},
      {"keras-cnn",
       "conv:32x3 relu conv:64x3 relu maxpool:2 dropout:0.25 flatten dense:128 relu dropout:0.5 dense:10",
       {1, 28, 28},
       "Keras's mnist_cnn example"},
      {"solar-cnn",
       "conv:32x3 relu conv:64x3 relu maxpool:2 dropout:0.25 flatten dense:128 relu dropout:0.5 dense:1 relu",
       {1, 50, 50},
       "the thesis's irradiance-map regressor (MSE)"},
      {"circuit-cnn",
       "conv:32x3 relu maxpool:2 conv:64x3 relu maxpool:2 conv:64x3 relu maxpool:2 dropout:0.25 flatten "
       "dense:128 relu dropout:0.5 dense:4",
       {1, 64, 64},
       "Image2Circuit's classic CNN (4 symbols)"},
  };
  return kPresets;
}

namespace {
/// Keras's _make_divisible: v rounded to the nearest multiple of 8, at least
/// 8, and never more than 10% below v.
int64_t make_divisible(double v) {
  int64_t out = std::max<int64_t>(8, static_cast<int64_t>(v + 4.0) / 8 * 8);
  if (static_cast<double>(out) < 0.9 * v) out += 8;
  return out;
}
}  // namespace

std::string mobilenetv2_text(double alpha, int64_t classes, int64_t input_hw, double bn_momentum) {
  HPCNN_CHECK(alpha > 0.0 && alpha <= 4.0, "model: mobilenetv2 width multiplier ", alpha, " must be in (0, 4]");
  HPCNN_CHECK(classes >= 1, "model: mobilenetv2 needs at least one class");
  HPCNN_CHECK(input_hw >= 32, "model: mobilenetv2 needs an input of at least 32 x 32, not ", input_hw);
  HPCNN_CHECK(bn_momentum >= 0.0 && bn_momentum < 1.0, "model: mobilenetv2 batch-norm momentum ", bn_momentum,
              " must be in [0, 1)");
  const std::string bn = bn_momentum == 0.99 ? std::string("bn") : cat("bn:m", bn_momentum);
  std::ostringstream t;
  // Stem: Conv1 (3 x 3, stride 2, same, no bias), bn_Conv1, Conv1_relu.
  t << "conv:" << make_divisible(32.0 * alpha) << "x3:s2:same:nobias " << bn << " relu6@stem";
  int64_t size = (input_hw + 1) / 2, channels = make_divisible(32.0 * alpha);
  std::string prev = "stem";
  struct Stage {
    int64_t filters, stride, expansion, repeats;
  };
  constexpr Stage kStages[] = {{16, 1, 1, 1}, {24, 2, 6, 2},  {32, 2, 6, 3}, {64, 2, 6, 4},
                               {96, 1, 6, 3}, {160, 2, 6, 3}, {320, 1, 6, 1}};
  int block = 0;
  for (const Stage& stage : kStages) {
    for (int64_t r = 0; r < stage.repeats; ++r, ++block) {
      const int64_t stride = r == 0 ? stage.stride : 1;
      const int64_t out = make_divisible(std::floor(static_cast<double>(stage.filters) * alpha));
      // _inverted_res_block: expand (1 x 1) unless block 0, depthwise 3 x 3,
      // project (1 x 1); each conv without bias and followed by batch norm.
      if (block > 0) t << " conv:" << stage.expansion * channels << "x1:nobias " << bn << " relu6";
      if (stride == 2) {
        // ZeroPadding2D(correct_pad(x, 3)): ((0, 1), (0, 1)) on even sizes, ((1, 1), (1, 1)) on odd.
        const int64_t before = size % 2 == 0 ? 0 : 1;
        t << " zeropad:" << before << ":1:" << before << ":1 dwconv:3:s2:nobias";
        size = (size + before + 1 - 3) / 2 + 1;
      } else {
        t << " dwconv:3:same:nobias";
      }
      t << " " << bn << " relu6 conv:" << out << "x1:nobias " << bn;
      const std::string name = cat("b", block);
      if (channels == out && stride == 1) t << " add:" << prev;
      t << "@" << name;
      prev = name;
      channels = out;
    }
  }
  // Conv_1 (1280 channels unless alpha > 1), Conv_1_bn, out_relu: the
  // backbone's end; then the seed's head.
  t << " conv:" << (alpha > 1.0 ? make_divisible(1280.0 * alpha) : 1280) << "x1:nobias " << bn << " relu6@backbone";
  t << " conv:8x1 relu dropout:0.1 flatten dense:" << classes;
  return t.str();
}

ModelSpec make_model(const std::string& name_or_text, const Shape* input) {
  if (name_or_text.rfind("mobilenetv2:", 0) == 0) {
    // mobilenetv2:ALPHA[:CLASSES][:mMOMENTUM], input 3 x 96 x 96 unless --input says otherwise.
    auto parts = split(name_or_text.substr(12), ':');
    double momentum = 0.999;  // Keras's MobileNetV2
    if (parts.size() >= 2 && parts.back().size() > 1 && parts.back()[0] == 'm') {
      momentum = real_in(parts.back().substr(1), 0.0, 0.999999, "the batch-norm momentum", name_or_text);
      parts.pop_back();
    }
    HPCNN_CHECK(parts.size() == 1 || parts.size() == 2, "model: '", name_or_text,
                "' should be mobilenetv2:ALPHA[:CLASSES][:mMOMENTUM], e.g. mobilenetv2:0.35:3");
    const double alpha = real_in(parts[0], 0.05, 4.0, "the width multiplier", name_or_text);
    const int64_t classes = parts.size() == 2 ? positive(parts[1], name_or_text) : 3;
    const Shape in = input != nullptr ? *input : Shape{3, 96, 96};
    HPCNN_CHECK(in.h == in.w, "model: mobilenetv2 takes square inputs, not ", in.str());
    return resolve(name_or_text, mobilenetv2_text(alpha, classes, in.h, momentum), in);
  }
  for (const Preset& p : presets()) {
    if (name_or_text == p.name) return resolve(p.name, p.text, input ? *input : p.input);
  }
  if (name_or_text.rfind("mlp:", 0) == 0) {
    // mlp:W1-W2-W3 -> flatten dense:W1 relu ... dense:1 (the thesis's regressors).
    std::string text = "flatten";
    const auto widths = split(name_or_text.substr(4), '-');
    HPCNN_CHECK(!widths.empty() && widths.size() <= 8, "model: '", name_or_text,
                "' needs 1..8 widths, e.g. mlp:800-400");
    for (const std::string& w : widths) text += " dense:" + std::to_string(positive(w, name_or_text)) + " relu";
    text += " dense:1";
    return resolve(name_or_text, text, input ? *input : Shape{50, 1, 1});
  }
  HPCNN_CHECK(
      input != nullptr || name_or_text.find(':') != std::string::npos || name_or_text.find(' ') != std::string::npos,
      "model: unknown preset '", name_or_text,
      "' (presets: tiny-cnn, mnist-cnn, keras-cnn, solar-cnn, "
      "circuit-cnn, mlp:W1-W2-W3, mobilenetv2:ALPHA[:CLASSES]; or a model string)");
  HPCNN_CHECK(input != nullptr, "model: a model string needs an input shape (--input CxHxW)");
  return resolve("custom", name_or_text, *input);
}

Shape parse_shape(const std::string& text) {
  const auto parts = split(text, 'x');
  if (parts.size() == 1) return {positive(parts[0], text), 1, 1};
  HPCNN_CHECK(parts.size() == 3, "bad shape '", text, "' (expected CxHxW, e.g. 1x28x28, or a feature count)");
  return {positive(parts[0], text), positive(parts[1], text), positive(parts[2], text)};
}

namespace {
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}
}  // namespace

std::string layer_label(size_t index, const ResolvedLayer& layer) { return cat(index + 1, " ", layer.spec.str()); }

std::string summary_table(const ModelSpec& m) {
  std::ostringstream os;
  const std::string rule(72, '=');
  os << "Model: " << m.name << "   input " << m.input.str() << "\n"
     << rule << "\n"
     << std::left << std::setw(28) << "Layer" << std::setw(28) << "Output shape (C, H, W)" << std::right
     << std::setw(16) << "Param #"
     << "\n"
     << rule << "\n";
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const ResolvedLayer& l = m.layers[i];
    os << std::left << std::setw(28) << layer_label(i, l) << std::setw(28) << l.output.str() << std::right
       << std::setw(16) << grouped(l.params()) << "\n";
  }
  os << rule << "\n"
     << "Total params: " << grouped(m.total_params()) << "\n"
     << "Trainable params: " << grouped(m.trainable_params()) << "\n"
     << "Non-trainable params: " << grouped(m.total_params() - m.trainable_params()) << "\n";
  return os.str();
}

}  // namespace hpcnn::model
