// Models as data: a list of layer specs parsed from a compact model string or
// a named preset, with shape inference and parameter counting.
//
// Model strings are space-separated layers:
//   conv:F x K[:sS][:same|:valid]   F filters of K x K (stride S, default 1; valid padding by default)
//   maxpool:K[:sS]                  K x K max pooling, stride S (default K), valid
//   dense:N   relu   dropout:P   flatten
// e.g. "conv:32x3 relu conv:64x3 relu maxpool:2 dropout:0.25 flatten dense:128 relu dropout:0.5 dense:10".
// The loss is not part of the string: classification data gets softmax +
// cross-entropy on the last layer's output, regression data gets MSE.
// Shapes are (C, H, W) per sample; "same" padding follows TensorFlow (the
// extra row/column of padding goes at the bottom/right).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hpcnn::model {

/// Limits on what a model string may ask for (docs/formats.md): a conv or
/// maxpool kernel and stride at most kMaxWindow; every per-sample shape, every
/// layer's weights and the total parameter count at most kMaxElements
/// (core/checked.hpp, 2^31 - 1). Beyond them resolve() throws naming the layer.
inline constexpr int64_t kMaxWindow = 4096;

/// Per-sample activation shape (C, H, W).
struct Shape {
  int64_t c = 1, h = 1, w = 1;
  int64_t size() const { return c * h * w; }
  bool operator==(const Shape&) const = default;
  std::string str() const;  ///< "(32, 26, 26)"
};

enum class LayerKind { kConv, kMaxPool, kDense, kRelu, kDropout, kFlatten };
const char* layer_kind_name(LayerKind kind);

struct LayerSpec {
  LayerKind kind = LayerKind::kRelu;
  int64_t filters = 0;  ///< conv: output channels; dense: units
  int64_t kernel = 0;   ///< conv / maxpool: K (square)
  int64_t stride = 1;   ///< conv / maxpool
  bool same_padding = false;
  double rate = 0.0;        ///< dropout
  std::string str() const;  ///< back to model-string form
};

/// Padding of one spatial dimension (TensorFlow "same" semantics).
struct Padding {
  int64_t before = 0, after = 0;
};

/// A layer with its input/output shapes and parameter counts resolved.
struct ResolvedLayer {
  LayerSpec spec;
  Shape input, output;
  Padding pad_h, pad_w;
  int64_t weights = 0;  ///< parameter count of the weights
  int64_t bias = 0;     ///< parameter count of the bias
  int64_t params() const { return weights + bias; }
};

/// Layer `index` (0-based) as `hpcnn summary`, `bench layers` and the --trace
/// events name it: "3 conv:64x3" (1-based index, then the layer string).
std::string layer_label(size_t index, const ResolvedLayer& layer);

struct ModelSpec {
  std::string name;  ///< preset name or "custom"
  std::string text;  ///< the model string
  Shape input;
  std::vector<ResolvedLayer> layers;
  int64_t total_params() const;
  Shape output() const { return layers.empty() ? input : layers.back().output; }
};

/// Parses a model string into layer specs; throws hpcnn::Error naming the bad token.
std::vector<LayerSpec> parse_layers(const std::string& text);

/// Resolves shapes for `input`; throws naming the layer when a shape is impossible
/// (kernel larger than its input, dense on an unflattened map, ...).
ModelSpec resolve(const std::string& name, const std::string& text, Shape input);

/// A preset by name ("keras-cnn", "mlp:3200-1600-832", ...) or a model string.
/// `input` overrides the preset's default input shape when non-null.
ModelSpec make_model(const std::string& name_or_text, const Shape* input = nullptr);

/// The presets' names, model strings and default inputs, for --help and docs.
struct Preset {
  const char* name;
  const char* text;
  Shape input;
  const char* description;
};
const std::vector<Preset>& presets();

/// Parses "CxHxW" (or a single number F for F x 1 x 1).
Shape parse_shape(const std::string& text);

/// A Keras-like summary table.
std::string summary_table(const ModelSpec& model);

}  // namespace hpcnn::model
