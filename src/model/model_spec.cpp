// Model-string parsing, presets, shape inference and the summary table.
#include "model/model_spec.hpp"

#include <cstdlib>
#include <iomanip>
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
  }
  return "unknown";
}

std::string LayerSpec::str() const {
  switch (kind) {
    case LayerKind::kConv:
      return cat("conv:", filters, "x", kernel, stride != 1 ? cat(":s", stride) : "", same_padding ? ":same" : "");
    case LayerKind::kMaxPool: return cat("maxpool:", kernel, stride != kernel ? cat(":s", stride) : "");
    case LayerKind::kDense: return cat("dense:", filters);
    case LayerKind::kDropout: return cat("dropout:", rate);
    case LayerKind::kRelu:
    case LayerKind::kFlatten: return layer_kind_name(kind);
  }
  return "?";
}

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

LayerSpec parse_token(const std::string& token) {
  const std::vector<std::string> parts = split(token, ':');
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
    HPCNN_THROW("model: unknown layer '", token, "' (known: conv, maxpool, dense, relu, dropout, flatten)");
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
  for (const LayerSpec& spec : parse_layers(text)) {
    ++index;
    ResolvedLayer r{spec, cur, cur, {}, {}, 0, 0};
    const std::string where = cat("model: layer ", index, " '", spec.str(), "' on input ", cur.str());
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
          const std::string what = cat(where, ": weights (filters x channels x kernel x kernel)");
          r.weights = checked_mul(
              checked_mul(checked_mul(spec.filters, cur.c, what, kMaxElements), spec.kernel, what, kMaxElements),
              spec.kernel, what, kMaxElements);
          r.bias = spec.filters;
        }
        break;
      }
      case LayerKind::kDense:
        HPCNN_CHECK(cur.h == 1 && cur.w == 1, where, ": dense needs a flat input (add flatten before it)");
        r.output = {spec.filters, 1, 1};
        r.weights = checked_mul(spec.filters, cur.c, cat(where, ": weights (units x inputs)"), kMaxElements);
        r.bias = spec.filters;
        break;
      case LayerKind::kFlatten: r.output = {cur.size(), 1, 1}; break;
      case LayerKind::kRelu:
      case LayerKind::kDropout: break;
    }
    checked_size(r.output, cat(where, ": output ", r.output.str(), " has too many elements per sample"));
    HPCNN_CHECK(r.output.size() > 0, where, ": output would be empty");
    total_params = checked_add(total_params, r.params(), cat(where, ": total parameter count"), kMaxElements);
    cur = r.output;
    m.layers.push_back(r);
  }
  return m;
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

ModelSpec make_model(const std::string& name_or_text, const Shape* input) {
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
      "circuit-cnn, mlp:W1-W2-W3; or a model string)");
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
     << "Trainable params: " << grouped(m.total_params()) << "\n";
  return os.str();
}

}  // namespace hpcnn::model
