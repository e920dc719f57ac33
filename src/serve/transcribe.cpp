// Segmentation, per-glyph classification and LaTeX (see transcribe.hpp).
#include "serve/transcribe.hpp"

#include <algorithm>
#include <numeric>

#include "core/check.hpp"
#include "expr/latex.hpp"
#include "expr/segment.hpp"
#include "serve/preprocess.hpp"

namespace hpcnn::serve {

nlohmann::json transcribe(Predictor& predictor, const GreyImage& picture, const std::vector<std::string>& class_names,
                          int top_k, int views) {
  HPCNN_CHECK(views >= 1 && views <= kMaxViews, "transcribe: views must be 1 to ", kMaxViews, " (got ", views, ")");
  const expr::Segmentation seg = expr::segment({picture.width, picture.height, picture.pixels});
  if (seg.glyphs.empty()) {
    HPCNN_BAD_INPUT(422, "blank image: no pixel stands out from the background by ", kInkThreshold,
                    " or more (nothing drawn?)");
  }
  if (static_cast<int>(seg.glyphs.size()) > kMaxGlyphs) {
    HPCNN_BAD_INPUT(422, "the picture has ", seg.glyphs.size(), " separate marks, more than the ", kMaxGlyphs,
                    " glyphs one expression may have");
  }
  const model::Shape& in = predictor.input_shape();
  std::vector<std::vector<float>> inputs;
  for (const expr::Glyph& g : seg.glyphs) {
    const GreyImage crop{g.crop.width, g.crop.height, g.crop.pixels};
    for (int v = 0; v < views; ++v) {
      inputs.push_back(preprocess(crop, Framing::kMnist, in.h, in.w, kViewBoxes[v]).input);
    }
  }
  // One batch for every view of every glyph; a glyph's probabilities are its views' mean.
  const std::vector<Prediction> all = predictor.predict(inputs);
  std::vector<Prediction> predictions(seg.glyphs.size());
  for (size_t i = 0; i < predictions.size(); ++i) {
    predictions[i] = all[i * static_cast<size_t>(views)];
    for (int v = 1; v < views; ++v) {
      const std::vector<double>& p = all[i * static_cast<size_t>(views) + static_cast<size_t>(v)].probabilities;
      for (size_t k = 0; k < p.size(); ++k) predictions[i].probabilities[k] += p[k];
    }
    for (double& p : predictions[i].probabilities) p /= views;
  }

  // Every class, most probable first, for the decoder; the top k for the answer.
  std::vector<expr::Candidates> candidates;
  for (const Prediction& pred : predictions) {
    const std::vector<double>& p = pred.probabilities;
    std::vector<size_t> order(p.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    expr::Candidates c;
    for (const size_t cls : order) c.emplace_back(class_names[cls], p[cls]);
    candidates.push_back(std::move(c));
  }
  std::vector<bool> raised, point_sized;
  for (const expr::Glyph& g : seg.glyphs) {
    raised.push_back(g.raised);
    point_sized.push_back(g.point_sized);
  }
  const expr::Decoded decoded = expr::decode(candidates, raised, point_sized);
  const std::vector<std::string>& tokens = decoded.tokens;
  std::vector<std::string> kept_tokens;  // without the flecks ("")
  std::vector<bool> kept_raised;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty()) continue;
    kept_tokens.push_back(tokens[i]);
    kept_raised.push_back(decoded.raised[i]);
  }
  nlohmann::json glyphs = nlohmann::json::array();
  const int k = std::min<int>(top_k, static_cast<int>(class_names.size()));
  for (size_t i = 0; i < seg.glyphs.size(); ++i) {
    if (tokens[i].empty()) continue;  // a fleck (expr::decode)
    const expr::Glyph& g = seg.glyphs[i];
    const expr::Candidates& c = candidates[i];
    nlohmann::json alternatives = nlohmann::json::array();
    double chosen_probability = 0.0;
    for (size_t j = 0; j < c.size(); ++j) {
      if (c[j].first == tokens[i]) chosen_probability = c[j].second;
      if (static_cast<int>(j) < k) alternatives.push_back({{"latex", c[j].first}, {"probability", c[j].second}});
    }
    glyphs.push_back({{"box", {g.box.x0, g.box.y0, g.box.width(), g.box.height()}},
                      {"parts", g.parts},
                      {"latex", tokens[i]},
                      {"probability", chosen_probability},
                      {"by_rule", tokens[i] != c.front().first},
                      {"superscript", static_cast<bool>(decoded.raised[i])},
                      {"alternatives", std::move(alternatives)}});
  }
  return {{"format", "hpcnn-transcription"},
          {"version", 1},
          {"latex", expr::assemble_latex(kept_tokens, kept_raised)},
          {"glyphs", std::move(glyphs)},
          {"inverted", seg.inverted},
          {"width", picture.width},
          {"height", picture.height}};
}

}  // namespace hpcnn::serve
