// Folding a trained model into inference ops, and int8 quantisation
// (quant/inference_graph.hpp). No oneDNN: the loader's check against the
// model (inference_file.cpp) folds the structure again, in the fuzz build too.
#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "model/fusion.hpp"
#include "quant/inference_graph.hpp"

namespace hpcnn::quant {

using model::LayerKind;
using model::Shape;

// ---- fold ----------------------------------------------------------------------

namespace {
/// fold() and fold_structure(): the same ops, with weights from `params`
/// (its size checked by the caller) or without any (nullptr).
Graph fold_graph(const model::ModelSpec& spec, model::LossKind loss, const float* params) {
  Graph g;
  g.model_name = spec.name;
  g.model_text = spec.text;
  g.input = spec.input;
  g.loss = loss;
  const size_t layers = spec.layers.size();
  std::vector<int64_t> offset(layers + 1, 0);
  for (size_t i = 0; i < layers; ++i) offset[i + 1] = offset[i] + spec.layers[i].params();
  // Tensors an add reads: nothing may be folded across them.
  const std::vector<bool> add_read = model::add_inputs(spec);
  std::vector<int> id(layers + 1, 0);         // model tensor k -> graph tensor
  std::vector<Shape> data_shape{spec.input};  // graph tensor -> the (C, H, W) of its NHWC data
  const auto new_tensor = [&](const Shape& s) {
    data_shape.push_back(s);
    return static_cast<int>(data_shape.size()) - 1;
  };
  const auto kind = [&](size_t i) { return i < layers ? spec.layers[i].spec.kind : LayerKind::kFlatten; };
  const auto label = [&](size_t i) { return model::layer_label(i, spec.layers[i]); };
  struct PendingPad {
    bool on = false;
    int64_t top = 0, bottom = 0, left = 0, right = 0;
    Shape in;
    std::string label;
  } pad;
  // Folds an activation right after layer j - 1 into `op` (when no add reads between).
  const auto fuse_activation = [&](Op& op, size_t& j) {
    const LayerKind head = op.kind == OpKind::kConv ? LayerKind::kConv : LayerKind::kDense;
    if ((kind(j) == LayerKind::kRelu || kind(j) == LayerKind::kRelu6) &&
        model::may_fuse(model::Fuser::kInference, head, spec, add_read, j)) {
      op.act = kind(j) == LayerKind::kRelu ? kernels::Activation::kRelu : kernels::Activation::kRelu6;
      op.layers += " + " + label(j);
      ++j;
    }
  };
  // An element-wise op on a flattened map (flatten, then batch norm or an
  // activation): the values stay as the engine stored the map, (H, W, C),
  // not in the model's (C, H, W) feature order. So batch norm's per-feature
  // parameters are reordered to match, and the op's output is registered
  // with the map's shape, so that a later dense layer still reorders its
  // weights (before, both were missed: wrong features normalised, and a
  // dense layer after them read the map in the wrong order). `stored`: the
  // map's shape when that is the case.
  const auto stored_map = [&](const Op& op, Shape* stored) {
    const Shape& ds = data_shape[static_cast<size_t>(op.src)];
    if (ds.h * ds.w <= 1 || op.in.h * op.in.w > 1) return false;
    *stored = ds;
    return true;
  };
  for (size_t i = 0; i < layers; ++i) {
    const model::ResolvedLayer& l = spec.layers[i];
    const float* p = params != nullptr ? params + offset[i] : nullptr;
    Op op;
    op.src = id[i];
    op.in = l.input;
    op.out = l.output;
    Shape stored_as;  // the output's stored shape, where stored_map says it is a map
    bool map_kept = false;
    op.layers = label(i);
    size_t last = i;  // the last model layer this op covers
    switch (l.spec.kind) {
      case LayerKind::kZeroPad:
        op.pad_top = l.spec.pad[0];
        op.pad_bottom = l.spec.pad[1];
        op.pad_left = l.spec.pad[2];
        op.pad_right = l.spec.pad[3];
        if (model::may_fuse(model::Fuser::kInference, LayerKind::kZeroPad, spec, add_read, i + 1)) {  // the conv pads
          pad = {true, op.pad_top, op.pad_bottom, op.pad_left, op.pad_right, l.input, op.layers};
          id[i + 1] = id[i];
          continue;
        }
        op.kind = OpKind::kPad;
        break;
      case LayerKind::kConv: {
        op.kind = OpKind::kConv;
        op.kernel = l.spec.kernel;
        op.stride = l.spec.stride;
        op.groups = l.spec.groups;
        op.pad_top = l.pad_h.before;
        op.pad_bottom = l.pad_h.after;
        op.pad_left = l.pad_w.before;
        op.pad_right = l.pad_w.after;
        if (pad.on) {
          op.in = pad.in;
          op.pad_top += pad.top;
          op.pad_bottom += pad.bottom;
          op.pad_left += pad.left;
          op.pad_right += pad.right;
          op.layers = pad.label + " + " + op.layers;
          pad.on = false;
        }
        if (p != nullptr) {
          op.weights.assign(p, p + l.weights);
          op.bias.assign(static_cast<size_t>(l.output.c), 0.0f);
          if (l.spec.bias) op.bias.assign(p + l.weights, p + l.weights + l.bias);
        }
        size_t j = i + 1;
        if (kind(j) == LayerKind::kBatchNorm &&
            model::may_fuse(model::Fuser::kInference, LayerKind::kConv, spec, add_read, j)) {
          // y = gamma (conv + b - mean) / sqrt(var + eps) + beta: scale each
          // output channel's weights and bias (no weights: nothing to scale).
          const model::ResolvedLayer& bn = spec.layers[j];
          const float* q = p != nullptr ? params + offset[j] : nullptr;
          const int64_t c = bn.output.c, per = l.weights / c;
          for (int64_t oc = 0; q != nullptr && oc < c; ++oc) {
            const double s = q[oc] / std::sqrt(static_cast<double>(q[3 * c + oc]) + bn.spec.epsilon);
            for (int64_t k = 0; k < per; ++k) op.weights[static_cast<size_t>(oc * per + k)] *= static_cast<float>(s);
            op.bias[static_cast<size_t>(oc)] =
                static_cast<float>((op.bias[static_cast<size_t>(oc)] - q[2 * c + oc]) * s + q[c + oc]);
          }
          op.layers += " + " + label(j);
          ++j;
        }
        fuse_activation(op, j);
        last = j - 1;
        op.out = spec.layers[last].output;
        break;
      }
      case LayerKind::kDense: {
        op.kind = OpKind::kDense;
        const Shape& ds = data_shape[static_cast<size_t>(op.src)];
        HPCNN_CHECK(ds.size() == l.input.size(), "fold: dense input of ", ds.size(), " values for ", l.input.size());
        if (p != nullptr) op.weights.assign(p, p + l.weights);
        if (p != nullptr && ds.h * ds.w > 1) {
          // A flattened map: the model's weights read it in (C, H, W) order, the engine stores it (H, W, C).
          const int64_t in = l.input.size(), hw = ds.h * ds.w;
          for (int64_t o = 0; o < l.output.c; ++o)
            for (int64_t c = 0; c < ds.c; ++c)
              for (int64_t s = 0; s < hw; ++s)
                op.weights[static_cast<size_t>(o * in + s * ds.c + c)] = p[o * in + c * hw + s];
        }
        if (p != nullptr) op.bias.assign(p + l.weights, p + l.weights + l.bias);
        size_t j = i + 1;
        fuse_activation(op, j);
        last = j - 1;
        op.out = spec.layers[last].output;
        break;
      }
      case LayerKind::kBatchNorm: {  // not after a conv: a per-channel affine map
        op.kind = OpKind::kAffine;
        const int64_t c = p != nullptr ? l.output.c : 0;
        for (int64_t k = 0; k < c; ++k) {
          const double s = p[k] / std::sqrt(static_cast<double>(p[3 * c + k]) + l.spec.epsilon);
          op.weights.push_back(static_cast<float>(s));
          op.bias.push_back(static_cast<float>(p[c + k] - p[2 * c + k] * s));
        }
        map_kept = stored_map(op, &stored_as);
        if (map_kept && p != nullptr) {
          // Per feature of the flattened map: the model's (C, H, W) order
          // becomes the stored (H, W, C) order.
          const Shape& ds = stored_as;
          const int64_t hw = ds.h * ds.w;
          std::vector<float> w(op.weights.size()), b(op.bias.size());
          for (int64_t ch = 0; ch < ds.c; ++ch)
            for (int64_t sp = 0; sp < hw; ++sp) {
              w[static_cast<size_t>(sp * ds.c + ch)] = op.weights[static_cast<size_t>(ch * hw + sp)];
              b[static_cast<size_t>(sp * ds.c + ch)] = op.bias[static_cast<size_t>(ch * hw + sp)];
            }
          op.weights = std::move(w);
          op.bias = std::move(b);
        }
        break;
      }
      case LayerKind::kRelu:
        op.kind = OpKind::kRelu;
        map_kept = stored_map(op, &stored_as);
        break;
      case LayerKind::kRelu6:
        op.kind = OpKind::kRelu6;
        map_kept = stored_map(op, &stored_as);
        break;
      case LayerKind::kAdd:
        op.kind = OpKind::kAdd;
        op.src2 = id[static_cast<size_t>(l.add_source)];
        HPCNN_CHECK(data_shape[static_cast<size_t>(op.src)] == data_shape[static_cast<size_t>(op.src2)],
                    "fold: ", op.layers, " adds tensors stored as ", data_shape[static_cast<size_t>(op.src)].str(),
                    " and ", data_shape[static_cast<size_t>(op.src2)].str(),
                    " (a flattened map and another layout): not supported by the inference engine");
        break;
      case LayerKind::kGlobalAvgPool: op.kind = OpKind::kGlobalAvgPool; break;
      case LayerKind::kMaxPool:
        op.kind = OpKind::kMaxPool;
        op.kernel = l.spec.kernel;
        op.stride = l.spec.stride;
        break;
      case LayerKind::kDropout:  // identity at inference
      case LayerKind::kFlatten:  // the data stays where it is (its NHWC order is the dense op's business)
        id[i + 1] = id[i];
        continue;
    }
    op.dst = new_tensor(map_kept ? stored_as : op.out);
    for (size_t k = i + 1; k <= last + 1; ++k) id[k] = op.dst;
    g.ops.push_back(std::move(op));
    i = last;
  }
  g.output = id[layers];
  g.num_tensors = static_cast<int>(data_shape.size());
  return g;
}

}  // namespace

Graph fold(const model::ModelSpec& spec, model::LossKind loss, std::span<const float> params) {
  const int64_t want = spec.total_params();
  HPCNN_CHECK(static_cast<int64_t>(params.size()) == want, "fold: ", params.size(), " parameters for a model of ",
              want);
  return fold_graph(spec, loss, params.data());
}

Graph fold_structure(const model::ModelSpec& spec, model::LossKind loss) { return fold_graph(spec, loss, nullptr); }

// ---- quantize ------------------------------------------------------------------

void quantize(Graph& g, const Calibration& cal) {
  HPCNN_CHECK(!g.int8, "quantize: the graph is int8 already");
  HPCNN_CHECK(cal.min.size() == g.ops.size() && cal.max_abs.size() == g.ops.size() && cal.samples > 0,
              "quantize: no calibration for this graph");
  for (size_t k = 0; k < g.ops.size(); ++k) {
    Op& op = g.ops[k];
    if (!has_weights(op.kind)) continue;
    // The input: u8 when it was never negative (after ReLU, or pixels), s8 otherwise.
    op.quant.is_unsigned = cal.min[k] >= 0.0f;
    const float range = cal.max_abs[k] > 0 ? cal.max_abs[k] : 1.0f;
    op.quant.scale = range / (op.quant.is_unsigned ? 255.0f : 127.0f);
    // The weights: symmetric, one scale per output channel.
    const int64_t oc = op.kind == OpKind::kConv ? op.out.c : op.out.size();
    const int64_t per = static_cast<int64_t>(op.weights.size()) / oc;
    op.qweights.resize(op.weights.size());
    op.wscales.assign(static_cast<size_t>(oc), 1.0f);
    for (int64_t c = 0; c < oc; ++c) {
      float m = 0;
      for (int64_t i = 0; i < per; ++i) m = std::max(m, std::abs(op.weights[static_cast<size_t>(c * per + i)]));
      const float s = m > 0 ? m / 127.0f : 1.0f;
      op.wscales[static_cast<size_t>(c)] = s;
      for (int64_t i = 0; i < per; ++i) {
        const auto at = static_cast<size_t>(c * per + i);
        op.qweights[at] = static_cast<int8_t>(std::lround(std::clamp(op.weights[at] / s, -127.0f, 127.0f)));
      }
    }
    op.weights.clear();
    op.weights.shrink_to_fit();
  }
  g.int8 = true;
}

}  // namespace hpcnn::quant
