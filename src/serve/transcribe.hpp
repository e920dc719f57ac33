// A handwritten expression -> LaTeX, with each glyph's box and alternatives.
//
// The one transcription of `hpcnn predict --expression` and POST /transcribe:
// expr::segment cuts the picture into glyphs (connected components, merge
// rules for = and \div, left to right); each glyph's crop (its own ink only)
// goes through serve::preprocess with MNIST framing, the framing of the
// math-symbols training data, and all glyphs are classified in one batch.
// The class names of a math-symbols model are LaTeX tokens, so the answer is
// expr::assemble_latex of the best class of each glyph. JSON: docs/formats.md,
// "Transcriptions".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/image.hpp"
#include "serve/predictor.hpp"

namespace hpcnn::serve {

/// More glyphs than this in one picture: BadInput 422 (bounds the work of a request).
inline constexpr int kMaxGlyphs = 64;

/// Views of each glyph (test-time augmentation): view k frames the glyph with
/// its longer side kViewBoxes[k] pixels of 28 (20: MNIST's framing, the
/// training data's); the first `views` are classified in the same batch and
/// their probabilities averaged. Expressions compose each glyph at its own
/// scale, so a digit's strokes after framing are not always MNIST's width:
/// the views average that out (results/math/README.md has what they gave).
inline constexpr double kViewBoxes[] = {20.0, 18.0, 22.0, 17.0, 23.0};
inline constexpr int kMaxViews = 5;
inline constexpr int kDefaultViews = 1;

/// {"format": "hpcnn-transcription", "latex", "glyphs": [{"box", "parts",
/// "latex", "probability", "alternatives"}], "inverted", "width", "height"}.
/// Throws BadInput 422 for a picture with no ink or too many glyphs.
nlohmann::json transcribe(Predictor& predictor, const GreyImage& picture, const std::vector<std::string>& class_names,
                          int top_k, int views = kDefaultViews);

}  // namespace hpcnn::serve
