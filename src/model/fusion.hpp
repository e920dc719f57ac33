// Which adjacent layers run as one op: one table for the trainer
// (model/model.cpp, where the backend can) and the inference folder
// (quant/fold.cpp), instead of each working the rules out by itself.
// A layer joins the op its predecessor heads (or, for zero padding, the
// conv after it) only when no add reads the tensor between them: an add
// needs that value as it is, so no fusion may change or hide it.
#pragma once

#include <vector>

#include "model/model_spec.hpp"

namespace hpcnn::model {

enum class Fuser { kTraining, kInference };

struct FusionRule {
  LayerKind head;   ///< the op's first layer (the conv of conv + bn + relu6)
  LayerKind joins;  ///< the layer right after the head (or after a layer that joined it)
  bool training;    ///< the trainer fuses it, where the backend says it can
  bool inference;   ///< fold() fuses it
};

inline constexpr FusionRule kFusionRules[] = {
    // The conv applies the activation (training: Backend::fuses_conv_relu).
    {LayerKind::kConv, LayerKind::kRelu, true, true},
    {LayerKind::kConv, LayerKind::kRelu6, false, true},
    {LayerKind::kDense, LayerKind::kRelu, false, true},
    {LayerKind::kDense, LayerKind::kRelu6, false, true},
    // Batch norm folded into the conv's weights and bias.
    {LayerKind::kConv, LayerKind::kBatchNorm, false, true},
    // The conv pads instead (asymmetric padding).
    {LayerKind::kZeroPad, LayerKind::kConv, false, true},
    // The pool's backward applies the ReLU's (Backend::fuses_relu_into_pool).
    {LayerKind::kRelu, LayerKind::kMaxPool, true, false},
};

/// Per tensor k (layer k's input; k = layers: the model's output): whether
/// an add reads it besides the chain.
inline std::vector<bool> add_inputs(const ModelSpec& spec) {
  std::vector<bool> read(spec.layers.size() + 1, false);
  for (const ResolvedLayer& l : spec.layers)
    if (l.spec.kind == LayerKind::kAdd) read[static_cast<size_t>(l.add_source)] = true;
  return read;
}

/// True when layer `i` may join the op headed by a `head` layer before it
/// for `who`: a rule for the pair, and no add reads layer i's input.
inline bool may_fuse(Fuser who, LayerKind head, const ModelSpec& spec, const std::vector<bool>& add_read, size_t i) {
  if (i >= spec.layers.size() || add_read[i]) return false;
  for (const FusionRule& r : kFusionRules)
    if (r.head == head && r.joins == spec.layers[i].spec.kind && (who == Fuser::kTraining ? r.training : r.inference))
      return true;
  return false;
}

}  // namespace hpcnn::model
