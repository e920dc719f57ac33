// From a picture a person made to the tensor the model was trained on.
//
// The one preprocessing of `hpcnn predict` and `hpcnn serve` (the page only
// sends its canvas; the server does all of this), so a PNG file and a drawing
// with the same pixels get the same answer. Training data is 8-bit grey,
// bright object on a dark background, framed by the dataset's recipe, and
// enters the model as v / 255. A drawing is brought to the same form:
//
//  1. Polarity. The mean of the outermost ring of pixels decides: brighter
//     than mid-grey (> 127.5) means dark ink on light paper, and the image is
//     inverted (v -> 255 - v). A white-on-black image is left as it is.
//  2. Ink. Pixels of at least kInkThreshold (13, 5% of 255: Fashion-MNIST's
//     trimming distance) after step 1 are ink; their bounding box is the
//     drawing. No ink at all is an error (BadInput 422, "blank image").
//  3. Framing, one of kFramings:
//       fill   Fashion-MNIST's recipe: the bounding box scaled (aspect kept)
//              until its longer side spans the whole input (28 pixels), the
//              shorter side centred.
//       mnist  MNIST's recipe: the longer side scaled to 20 of 28 pixels,
//              then placed so the ink's centre of mass (intensity-weighted)
//              sits at the centre of the input.
//       none   no crop: the whole image stretched to the input size (an
//              image already framed like the training data, e.g. a dataset
//              sample, comes through unchanged).
//     Resampling is by area: each output pixel is the area-weighted mean of
//     the source pixels under it (background 0 outside the crop), rounded to
//     8 bits. Upscaling thus keeps pixels sharp; downscaling anti-aliases.
//  4. Scaling. The 8-bit result goes through data::uint8_to_input, the very
//     function the dataset reader uses (v * (1/255) in float).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "serve/image.hpp"

namespace hpcnn::serve {

enum class Framing { kFill, kMnist, kNone };

struct FramingName {
  Framing framing;
  const char* name;
  const char* help;
};
/// The one table of framing names: help text, parsing and errors use it.
inline constexpr std::array<FramingName, 3> kFramings{{
    {Framing::kFill, "fill", "bounding box scaled to fill the input, centred (Fashion-MNIST)"},
    {Framing::kMnist, "mnist", "bounding box scaled to 20/28, centre of mass centred (MNIST)"},
    {Framing::kNone, "none", "whole image resized to the input, no crop"},
}};
const char* framing_name(Framing framing);
/// Throws UsageError naming the choices for an unknown name.
Framing parse_framing(const std::string& name);
/// "fill, mnist, none"
std::string framing_choices();

/// Pixels of at least this value (after inversion) are ink.
inline constexpr int kInkThreshold = 13;

struct Preprocessed {
  GreyImage image;           ///< what the model sees: height x width, 8-bit, bright ink on black
  bool inverted = false;     ///< step 1 inverted the picture
  std::vector<float> input;  ///< image through data::uint8_to_input: (1, H, W) float in [0, 1]
};

/// Steps 1-4 above for a model input of height x width pixels (one channel).
/// `mnist_box`: the longer side of the mnist framing in pixels of a 28-pixel
/// input (20, MNIST's; other values frame the drawing smaller or larger, for
/// the views of serve/transcribe.hpp).
Preprocessed preprocess(const GreyImage& picture, Framing framing, int64_t height, int64_t width,
                        double mnist_box = 20.0);

}  // namespace hpcnn::serve
