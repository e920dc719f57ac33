// Models as data: a list of layer specs parsed from a compact model string or
// a named preset, with shape inference and parameter counting.
//
// Model strings are space-separated layers:
//   conv:F x K[:sS][:same|:valid][:gG][:nobias]  F filters of K x K (stride S, default 1; valid padding by
//                                   default; G groups, default 1; a bias unless :nobias)
//   dwconv:K[:sS][:same|:valid][:nobias]  depthwise K x K convolution (one filter per channel)
//   maxpool:K[:sS]                  K x K max pooling, stride S (default K), valid
//   dense:N   relu   relu6   dropout:P   flatten
//   bn[:eEPS][:mMOMENTUM]           batch normalisation per channel (Keras: epsilon 1e-3, momentum 0.99)
//   gap                             global average pooling: (C, H, W) -> (C, 1, 1)
//   zeropad:P | zeropad:T:B:L:R     zero padding of the spatial dimensions (Keras's ZeroPadding2D)
//   add:NAME                        the previous layer's output plus the tensor named NAME (a residual)
// Any layer may end with @NAME to name its output for a later add:NAME; the
// model's input is named "input". So a model is a chain with skip
// connections (a small DAG), and a plain chain string reads as before.
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

enum class LayerKind {
  kConv,
  kMaxPool,
  kDense,
  kRelu,
  kDropout,
  kFlatten,
  kBatchNorm,
  kRelu6,
  kAdd,
  kGlobalAvgPool,
  kZeroPad
};
const char* layer_kind_name(LayerKind kind);

struct LayerSpec {
  LayerKind kind = LayerKind::kRelu;
  int64_t filters = 0;  ///< conv: output channels (dwconv: resolved to the input's); dense: units
  int64_t kernel = 0;   ///< conv / maxpool: K (square)
  int64_t stride = 1;   ///< conv / maxpool
  bool same_padding = false;
  int64_t groups = 1;                      ///< conv (dwconv: resolved to the channel count)
  bool depthwise = false;                  ///< conv written as dwconv:K
  bool bias = true;                        ///< conv: false with :nobias
  double rate = 0.0;                       ///< dropout
  double epsilon = 1e-3, momentum = 0.99;  ///< bn
  std::array<int64_t, 4> pad{};            ///< zeropad: top, bottom, left, right
  std::string from;                        ///< add: the tensor added to the previous output
  std::string name;                        ///< this layer's output name (@NAME), or empty
  std::string str() const;                 ///< back to model-string form
};

/// Padding of one spatial dimension (TensorFlow "same" semantics).
struct Padding {
  int64_t before = 0, after = 0;
};

/// A layer with its input/output shapes and parameter counts resolved.
/// Parameters sit in the flat buffer as weights, bias, then state: batch
/// norm's gamma (weights), beta (bias), and its running mean and variance
/// (state: trained by no gradient, updated by the forward pass; Keras's
/// "non-trainable params").
struct ResolvedLayer {
  LayerSpec spec;
  Shape input, output;
  Padding pad_h, pad_w;
  int64_t weights = 0;  ///< parameter count of the weights
  int64_t bias = 0;     ///< parameter count of the bias
  int64_t state = 0;    ///< non-trainable values (batch norm: 2 C)
  /// add: which tensor the previous output is added to: 0 the model input,
  /// k the output of layer k (1-based); -1 for other layers.
  int add_source = -1;
  int64_t params() const { return weights + bias + state; }
  int64_t trainable() const { return weights + bias; }
};

/// Layer `index` (0-based) as `hpcnn summary`, `bench layers` and the --trace
/// events name it: "3 conv:64x3" (1-based index, then the layer string).
std::string layer_label(size_t index, const ResolvedLayer& layer);

struct ModelSpec {
  std::string name;  ///< preset name or "custom"
  std::string text;  ///< the model string
  Shape input;
  std::vector<ResolvedLayer> layers;
  int64_t total_params() const;      ///< everything in the flat buffer (Keras's "Total params")
  int64_t trainable_params() const;  ///< without the state (Keras's "Trainable params")
  /// The 0-based index of the layer named `what`: a 1-based layer number
  /// ("52") or an @NAME of the model string. Throws naming the choices.
  size_t layer_index(const std::string& what) const;
  Shape output() const { return layers.empty() ? input : layers.back().output; }
};

/// Parses a model string into layer specs; throws hpcnn::Error naming the bad token.
std::vector<LayerSpec> parse_layers(const std::string& text);

/// Resolves shapes for `input`; throws naming the layer when a shape is impossible
/// (kernel larger than its input, dense on an unflattened map, ...).
ModelSpec resolve(const std::string& name, const std::string& text, Shape input);

/// MobileNetV2 (Sandler et al. 2018) as Keras's applications.MobileNetV2
/// builds it with include_top=False (width multiplier `alpha`, channel
/// counts rounded as Keras's _make_divisible; stride-2 depthwise convs after
/// a ZeroPadding2D, as Keras places it), then the Edge Impulse seed's head:
/// Dense 8 + ReLU applied at every position of the final map (a 1 x 1 conv),
/// dropout 0.1, flatten, dense `classes`. Input (3, H, W). Batch norms use
/// `bn_momentum` (Keras's MobileNetV2: 0.999; 0.99 lets running statistics
/// settle within a few hundred steps when training from scratch).
std::string mobilenetv2_text(double alpha, int64_t classes, int64_t input_hw, double bn_momentum = 0.999);

/// A preset by name ("keras-cnn", "mlp:3200-1600-832", "mobilenetv2:0.35[:K][:mMOM]", ...) or a model string.
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
