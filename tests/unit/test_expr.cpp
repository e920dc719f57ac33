// The math-character tool: generated symbols, the math-symbols dataset,
// expression segmentation on rendered pictures with known boxes, LaTeX.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "data/synth/generate.hpp"
#include "data/synth/math_symbols.hpp"
#include "expr/latex.hpp"
#include "expr/segment.hpp"
#include "test_helpers.hpp"

using namespace hpcnn;

namespace {
const Logger kQuiet(LogLevel::kQuiet);

/// A black picture to draw on.
expr::Image blank(int64_t w, int64_t h) { return {w, h, std::vector<uint8_t>(static_cast<size_t>(w * h), 0)}; }

/// Fills [x0, x1) x [y0, y1) with white: a stroke, a bar or a dot of known box.
void fill(expr::Image& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, uint8_t v = 255) {
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) img.pixels[static_cast<size_t>(y * img.width + x)] = v;
  }
}

std::vector<expr::Box> boxes_of(const expr::Segmentation& s) {
  std::vector<expr::Box> out;
  for (const expr::Glyph& g : s.glyphs) out.push_back(g.box);
  return out;
}
}  // namespace

TEST_CASE("Math symbols: every generated class is framed like MNIST and deterministic", "[expr]") {
  using namespace data::synth;
  std::vector<uint8_t> a(28 * 28), b(28 * 28), c(28 * 28);
  for (int cls = kFirstMathSymbol; cls < kMathClasses; ++cls) {
    INFO("class " << math_class_names()[static_cast<size_t>(cls)]);
    for (uint64_t key = 1; key <= 20; ++key) {
      draw_math_symbol(cls, key, a);
      draw_math_symbol(cls, key, b);
      draw_math_symbol(cls, key + 1000, c);
      CHECK(a == b);
      CHECK(a != c);
      // The box of the ink (>= 13, as preprocessing counts it) spans about 20
      // pixels on its longer side, and its centre of mass is near (14, 14).
      int x0 = 28, y0 = 28, x1 = 0, y1 = 0;
      double mass = 0, mx = 0, my = 0;
      for (int y = 0; y < 28; ++y) {
        for (int x = 0; x < 28; ++x) {
          const int v = a[static_cast<size_t>(y * 28 + x)];
          mass += v;
          mx += v * (x + 0.5);
          my += v * (y + 0.5);
          if (v < 13) continue;
          x0 = std::min(x0, x), x1 = std::max(x1, x + 1), y0 = std::min(y0, y), y1 = std::max(y1, y + 1);
        }
      }
      CHECK(std::max(x1 - x0, y1 - y0) >= 19);
      CHECK(std::max(x1 - x0, y1 - y0) <= 21);
      CHECK(std::abs(mx / mass - 14.0) < 1.0);
      CHECK(std::abs(my / mass - 14.0) < 1.0);
    }
  }
  CHECK(math_class_names().size() == size_t{kMathClasses});
  CHECK(math_class_names()[12] == "\\times");
}

TEST_CASE("Math symbols: the dataset copies the real digits and adds balanced generated symbols", "[expr]") {
  using namespace data;
  test::ScratchDir dir("math-symbols");
  // A stand-in digit set: sample i has label i % 10 and every pixel = 10 * label + 1.
  Manifest digits;
  digits.name = "digits";
  digits.num_classes = 10;
  digits.sample_shape = {1, 28, 28};
  for (int d = 0; d < 10; ++d) digits.class_names.push_back(std::to_string(d));
  const auto fill_digits = [](SampleBlock& block) {
    for (int64_t i = 0; i < block.count; ++i) {
      const int label = static_cast<int>((block.first_index + i) % 10);
      std::fill_n(block.samples_u8.begin() + i * 784, 784, static_cast<uint8_t>(10 * label + 1));
      block.labels[static_cast<size_t>(i)] = label;
    }
  };
  std::filesystem::create_directories(dir / "digits");
  write_split(dir / "digits", digits, "train", 30, {}, fill_digits);
  write_split(dir / "digits", digits, "test", 10, {}, fill_digits);
  save_manifest(dir / "digits", digits);

  synth::SynthConfig config;
  config.kind = synth::Kind::kMathSymbols;
  config.out = dir / "math";
  config.digits = dir / "digits";
  config.train = 20;  // two of each generated symbol
  config.test = 10;
  const Manifest m = synth::generate(config, kQuiet);
  CHECK(m.num_classes == 20);
  CHECK(m.class_names == synth::math_class_names());
  CHECK(m.split("train").num_samples() == 50);
  CHECK(m.split("test").num_samples() == 20);
  CHECK(!m.splits.contains("validation"));
  CHECK(m.generator["digits_per_split"]["train"] == 30);
  SplitReader reader(config.out, m, "train", false);
  std::vector<int64_t> idx(50);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  Batch batch;
  reader.read(idx, batch);
  std::vector<int> counts(20, 0);
  for (size_t i = 0; i < 50; ++i) {
    const int label = batch.labels[i];
    ++counts[static_cast<size_t>(label)];
    if (i < 30) {  // the digits, byte for byte
      CHECK(label == static_cast<int>(i % 10));
      CHECK(batch.samples[i * 784 + 400] == static_cast<float>(10 * label + 1));
    }
  }
  CHECK(counts == std::vector<int>{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2});
}

TEST_CASE("Math symbols: elastic copies of the training digits are distorted, reframed and keep their labels",
          "[expr]") {
  using namespace data;
  // A digit-like stroke: a bar of a "1" in a 28x28 frame.
  std::vector<uint8_t> one(28 * 28, 0), a(28 * 28), b(28 * 28), c(28 * 28);
  for (int y = 4; y < 24; ++y) {
    for (int x = 12; x < 16; ++x) one[static_cast<size_t>(y * 28 + x)] = 255;
  }
  synth::elastic_digit(one, 7, a);
  synth::elastic_digit(one, 7, b);
  synth::elastic_digit(one, 8, c);
  CHECK(a == b);  // deterministic in the key
  CHECK(a != c);
  CHECK(a != one);  // distorted
  int x0 = 28, y0 = 28, x1 = 0, y1 = 0;
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      if (a[static_cast<size_t>(y * 28 + x)] < 13) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x + 1), y0 = std::min(y0, y), y1 = std::max(y1, y + 1);
    }
  }
  CHECK(std::max(x1 - x0, y1 - y0) >= 19);  // framed like MNIST again
  CHECK(std::max(x1 - x0, y1 - y0) <= 21);

  // In the dataset: the copies follow the originals in the training split only.
  test::ScratchDir dir("math-elastic");
  Manifest digits;
  digits.name = "digits";
  digits.num_classes = 10;
  digits.sample_shape = {1, 28, 28};
  for (int d = 0; d < 10; ++d) digits.class_names.push_back(std::to_string(d));
  const auto fill_digits = [&one](SampleBlock& block) {
    for (int64_t i = 0; i < block.count; ++i) {
      std::copy(one.begin(), one.end(), block.samples_u8.begin() + i * 784);
      block.labels[static_cast<size_t>(i)] = static_cast<int>((block.first_index + i) % 10);
    }
  };
  std::filesystem::create_directories(dir / "digits");
  write_split(dir / "digits", digits, "train", 10, {}, fill_digits);
  write_split(dir / "digits", digits, "test", 10, {}, fill_digits);
  save_manifest(dir / "digits", digits);
  synth::SynthConfig config;
  config.kind = synth::Kind::kMathSymbols;
  config.out = dir / "math";
  config.digits = dir / "digits";
  config.digit_copies = 2;
  config.train = 10;
  config.test = 10;
  const Manifest m = synth::generate(config, kQuiet);
  CHECK(m.split("train").num_samples() == 10 + 2 * 10 + 10);
  CHECK(m.split("test").num_samples() == 10 + 10);
  CHECK(m.generator["digit_elastic_copies"] == 2);
  CHECK(m.generator["digits_per_split"]["train"] == 30);
  CHECK(m.generator["digits_per_split"]["test"] == 10);
  SplitReader reader(config.out, m, "train", false);
  std::vector<int64_t> idx(30);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  Batch batch;
  reader.read(idx, batch);
  for (size_t i = 0; i < 30; ++i) {
    INFO("sample " << i);
    CHECK(batch.labels[i] == static_cast<int>(i % 10));  // copy k of digit i follows all the originals
    const bool same_as_original =
        std::equal(one.begin(), one.end(), batch.samples.begin() + static_cast<std::ptrdiff_t>(i * 784),
                   [](uint8_t u, float f) { return static_cast<float>(u) == f; });
    CHECK(same_as_original == (i < 10));
  }
}

TEST_CASE("Segmentation: separate strokes become glyphs left to right with their boxes", "[expr]") {
  expr::Image img = blank(120, 40);
  // Drawn right to left: the order must come from the positions.
  fill(img, 90, 5, 96, 35);   // a "1"
  fill(img, 50, 18, 70, 22);  // a "-"
  fill(img, 10, 8, 30, 32);   // a filled block
  fill(img, 110, 2, 111, 3);  // a one-pixel speck: dropped
  const expr::Segmentation s = expr::segment(img);
  CHECK_FALSE(s.inverted);
  CHECK(boxes_of(s) == std::vector<expr::Box>{{10, 8, 30, 32}, {50, 18, 70, 22}, {90, 5, 96, 35}});
  for (const expr::Glyph& g : s.glyphs) CHECK(g.parts == 1);
  // The crop is the glyph with a black margin.
  const expr::Glyph& minus = s.glyphs[1];
  CHECK(minus.crop.width == 20 + 2 * expr::kCropMargin);
  CHECK(minus.crop.height == 4 + 2 * expr::kCropMargin);
  CHECK(minus.crop.at(0, 0) == 0);
  CHECK(minus.crop.at(expr::kCropMargin, expr::kCropMargin) == 255);
  CHECK(minus.ink == 80);
}

TEST_CASE("Segmentation: a small glyph above the baseline is a superscript but a minus is not", "[expr]") {
  // "2^{10} - 3" drawn as blocks: the base digits span rows 20..80.
  expr::Image img = blank(260, 100);
  fill(img, 10, 20, 40, 80);    // "2", full height
  fill(img, 46, 10, 52, 40);    // "1", half height, raised
  fill(img, 58, 10, 74, 40);    // "0", raised
  fill(img, 100, 48, 130, 53);  // "-": mid-line
  fill(img, 150, 20, 180, 80);  // "3"
  fill(img, 190, 62, 206, 78);  // a small glyph low on the line: not raised
  const expr::Segmentation s = expr::segment(img);
  REQUIRE(s.glyphs.size() == 6);
  std::vector<bool> raised;
  for (const expr::Glyph& g : s.glyphs) raised.push_back(g.raised);
  CHECK(raised == std::vector<bool>{false, true, true, false, false, false});

  // x^2 + 1 with a short x: the band is the 1's, not the x's; and x^2 alone: the x's.
  const auto raised_of = [](const expr::Image& picture) {
    std::vector<bool> r;
    for (const expr::Glyph& g : expr::segment(picture).glyphs) r.push_back(g.raised);
    return r;
  };
  expr::Image x2 = blank(160, 100);
  fill(x2, 10, 41, 40, 80);    // x, 39 high
  fill(x2, 50, 18, 68, 48);    // 2, 30 high, raised
  fill(x2, 80, 42, 110, 78);   // +
  fill(x2, 130, 30, 140, 90);  // 1, 60 high
  CHECK(raised_of(x2) == std::vector<bool>{false, true, false, false});
  fill(x2, 80, 30, 160, 100, 0);  // x^2 alone
  CHECK(raised_of(x2) == std::vector<bool>{false, true});

  // A first glyph is never raised, whatever its place.
  expr::Image first = blank(120, 100);
  fill(first, 10, 5, 20, 30);
  fill(first, 40, 20, 70, 80);
  const expr::Segmentation f = expr::segment(first);
  REQUIRE(f.glyphs.size() == 2);
  CHECK_FALSE(f.glyphs[0].raised);
}

TEST_CASE("Decoding: raised digits and variables become superscripts and raised operators stay on the line", "[expr]") {
  using C = expr::Candidates;
  // 2^{10}
  expr::Decoded d = expr::decode({C{{"2", 0.9}}, C{{"1", 0.8}}, C{{"0", 0.9}}}, {false, true, true});
  CHECK(d.tokens == std::vector<std::string>{"2", "1", "0"});
  CHECK(d.raised == std::vector<bool>{false, true, true});
  CHECK(expr::assemble_latex(d.tokens, d.raised) == "2^{10}");
  // (x + 1)^2: a raised digit may follow ")"; on the line it could not.
  d = expr::decode(
      {C{{"(", 0.9}}, C{{"x", 0.9}}, C{{"+", 0.9}}, C{{"1", 0.9}}, C{{")", 0.9}}, C{{"2", 0.6}, {"=", 0.3}}},
      {false, false, false, false, false, true});
  CHECK(expr::assemble_latex(d.tokens, d.raised) == "(x + 1)^2");
  const std::vector<C> bracket_two{C{{"(", 0.9}}, C{{"x", 0.9}}, C{{")", 0.9}}, C{{"2", 0.6}, {"+", 0.3}},
                                   C{{"1", 0.9}}};
  CHECK(expr::decode_tokens(bracket_two)[3] == "+");
  CHECK(expr::decode(bracket_two, {false, false, false, true, false}).tokens[3] == "2");
  // x^2 + y^2 = 1
  d = expr::decode(
      {C{{"x", 0.9}}, C{{"2", 0.9}}, C{{"+", 0.9}}, C{{"y", 0.9}}, C{{"2", 0.9}}, C{{"=", 0.9}}, C{{"1", 0.9}}},
      {false, true, false, false, true, false, false});
  CHECK(expr::assemble_latex(d.tokens, d.raised) == "x^2 + y^2 = 1");
  // A minus written high is still a minus, decoded with the line's rules.
  d = expr::decode({C{{"3", 0.9}}, C{{"-", 0.8}, {"1", 0.2}}, C{{"4", 0.9}}}, {false, true, false});
  CHECK(d.raised == std::vector<bool>{false, false, false});
  CHECK(expr::assemble_latex(d.tokens, d.raised) == "3 - 4");
}

TEST_CASE("Decoding: a point-sized glyph is a point before a digit, else a fleck that is left out", "[expr]") {
  using C = expr::Candidates;
  const std::vector<bool> middle{false, true, false, false};
  // 2 . 5: read as a point even when the model's best guess for the blob is a digit.
  expr::Decoded d = expr::decode({C{{"2", 0.9}}, C{{"6", 0.6}, {".", 0.3}}, C{{"5", 0.9}}, C{{"1", 0.9}}}, {}, middle);
  CHECK(d.tokens == std::vector<std::string>{"2", ".", "5", "1"});
  // 2 (fleck) - 4: no digit follows, so it is a fleck.
  d = expr::decode({C{{"2", 0.9}}, C{{"6", 0.6}, {".", 0.3}}, C{{"-", 0.9}}, C{{"4", 0.9}}}, {}, middle);
  CHECK(d.tokens == std::vector<std::string>{"2", "", "-", "4"});
  // Before a digit but not a point to the classifier ("." under kPointMinProbability): a fleck.
  d = expr::decode({C{{"2", 0.9}}, C{{"1", 0.9}, {".", 0.05}}, C{{"5", 0.9}}, C{{"1", 0.9}}}, {}, middle);
  CHECK(d.tokens == std::vector<std::string>{"2", "", "5", "1"});
  // Last, or after an operator: a fleck.
  d = expr::decode({C{{"2", 0.9}}, C{{"9", 0.9}}, C{{"6", 0.6}}}, {}, {false, false, true});
  CHECK(d.tokens.back().empty());
  d = expr::decode({C{{"-", 0.9}}, C{{"6", 0.6}}, C{{"3", 0.6}}}, {}, {false, true, false});
  CHECK(d.tokens == std::vector<std::string>{"-", "", "3"});
}

TEST_CASE("Segmentation: a detached serif or tail abutting a glyph joins it but a superscript or minus does not",
          "[expr]") {
  expr::Image img = blank(200, 70);
  fill(img, 40, 10, 50, 60);    // a stroke 50 high: the line
  fill(img, 32, 12, 38, 28);    // its serif, 6x16, 2 pixels to its top left (a 7's start drawn apart)
  fill(img, 80, 10, 90, 60);    // a stroke
  fill(img, 91, 46, 96, 60);    // its tail, 5x14, 1 pixel to its bottom right
  fill(img, 120, 10, 130, 60);  // a stroke
  fill(img, 131, 10, 139, 28);  // a superscript, 8x18, abutting its top right: stays a glyph
  fill(img, 148, 33, 168, 38);  // a minus, 20x5 (flat), 2 pixels before the next stroke: stays a glyph
  fill(img, 170, 10, 180, 60);  // a stroke
  const expr::Segmentation s = expr::segment(img);
  CHECK(boxes_of(s) == std::vector<expr::Box>{{32, 10, 50, 60},
                                              {80, 10, 96, 60},
                                              {120, 10, 130, 60},
                                              {131, 10, 139, 28},
                                              {148, 33, 168, 38},
                                              {170, 10, 180, 60}});
  REQUIRE(s.glyphs.size() == 6);
  CHECK(s.glyphs[0].parts == 2);
  CHECK(s.glyphs[1].parts == 2);
  CHECK(s.glyphs[3].raised);
}

TEST_CASE("Segmentation: flecks are dropped but a decimal point on the baseline stays", "[expr]") {
  expr::Image img = blank(200, 80);
  fill(img, 10, 10, 40, 60);    // a digit, 50 high
  fill(img, 44, 12, 48, 16);    // a 4x4 fleck beside it (< 10% of 50)
  fill(img, 50, 30, 58, 38);    // an 8x8 fleck mid-line (16%: a point's size, not its place)
  fill(img, 60, 10, 90, 60);    // a digit
  fill(img, 96, 52, 104, 60);   // a point, 8x8 (16%)
  fill(img, 110, 10, 140, 60);  // a digit
  const expr::Segmentation s = expr::segment(img);
  CHECK(boxes_of(s) ==
        std::vector<expr::Box>{{10, 10, 40, 60}, {60, 10, 90, 60}, {96, 52, 104, 60}, {110, 10, 140, 60}});
  std::vector<bool> point_sized;
  for (const expr::Glyph& g : s.glyphs) point_sized.push_back(g.point_sized);
  CHECK(point_sized == std::vector<bool>{false, false, true, false});  // a point or nothing, for the decoder
  // Alone, a point is the line.
  expr::Image dot = blank(30, 30);
  fill(dot, 12, 12, 16, 16);
  CHECK(expr::segment(dot).glyphs.size() == 1);
}

TEST_CASE("Segmentation: a dotted trace of flecks stacked beside a digit is dropped", "[expr]") {
  expr::Image img = blank(200, 80);
  fill(img, 10, 10, 40, 60);  // a digit, 50 high
  // Three 9x3 flecks stacked at the digit's right (stacked: merged into one group of 3 parts).
  fill(img, 44, 12, 53, 15);
  fill(img, 44, 32, 53, 35);
  fill(img, 44, 52, 53, 55);
  fill(img, 70, 10, 100, 60);   // a digit
  fill(img, 120, 28, 150, 32);  // "=": two bars of 30, a line's 60%
  fill(img, 120, 40, 150, 44);
  const expr::Segmentation s = expr::segment(img);
  CHECK(boxes_of(s) == std::vector<expr::Box>{{10, 10, 40, 60}, {70, 10, 100, 60}, {120, 28, 150, 44}});
}

TEST_CASE("Segmentation: the bars of = and the dots of div are one glyph each", "[expr]") {
  expr::Image img = blank(140, 60);
  fill(img, 10, 20, 40, 24);  // =
  fill(img, 12, 32, 42, 36);
  fill(img, 60, 28, 90, 32);  // \div: bar and two dots
  fill(img, 73, 16, 77, 20);
  fill(img, 74, 40, 78, 44);
  fill(img, 110, 10, 116, 50);  // a tall stroke after them
  const expr::Segmentation s = expr::segment(img);
  REQUIRE(s.glyphs.size() == 3);
  CHECK(s.glyphs[0].box == expr::Box{10, 20, 42, 36});
  CHECK(s.glyphs[0].parts == 2);
  CHECK(s.glyphs[1].box == expr::Box{60, 16, 90, 44});
  CHECK(s.glyphs[1].parts == 3);
  CHECK(s.glyphs[2].parts == 1);
}

TEST_CASE("Segmentation: a stroke reaching into a neighbour's box stays out of its crop", "[expr]") {
  expr::Image img = blank(80, 50);
  fill(img, 5, 20, 27, 23);       // a bar ending inside the next glyph's box, not touching it
  fill(img, 30, 5, 35, 45, 200);  // the next glyph: a stem with a flag to the left
  fill(img, 25, 5, 30, 8, 200);
  const expr::Segmentation s = expr::segment(img);
  REQUIRE(s.glyphs.size() == 2);
  const expr::Glyph& right = s.glyphs[1];
  CHECK(right.box == expr::Box{25, 5, 35, 45});
  // (25, 20) holds the bar's ink in the picture, but the crop has only the 200s.
  for (const uint8_t v : right.crop.pixels) CHECK((v == 0 || v == 200));
}

TEST_CASE("Segmentation: dark ink on paper is found the same way, and a blank picture has no glyphs", "[expr]") {
  expr::Image img = blank(60, 30);
  fill(img, 5, 5, 15, 25);
  fill(img, 30, 10, 50, 14);
  expr::Image paper = img;
  for (uint8_t& v : paper.pixels) v = static_cast<uint8_t>(255 - v);
  const expr::Segmentation a = expr::segment(img), b = expr::segment(paper);
  CHECK(b.inverted);
  CHECK(boxes_of(a) == boxes_of(b));
  CHECK(expr::segment(blank(10, 10)).glyphs.empty());
}

TEST_CASE("LaTeX: operators are spaced, digits and brackets written together", "[expr]") {
  CHECK(expr::assemble_latex({"1", "2", "\\times", "(", "3", "+", "4", ")", "=", "8", "4"}) ==
        "12 \\times (3 + 4) = 84");
  CHECK(expr::assemble_latex({"-", "0", ".", "5", "\\div", "x"}) == "- 0.5 \\div x");
  CHECK(expr::assemble_latex({}).empty());
}

TEST_CASE("Decoding: the most probable token that keeps the expression well formed", "[expr]") {
  using C = expr::Candidates;
  // A 1 written like ")" with no bracket open reads as 1; the same glyph after "(3" closes it.
  CHECK(expr::decode_tokens({C{{"1", 0.9}}, C{{")", 0.6}, {"1", 0.4}}}) == std::vector<std::string>{"1", "1"});
  CHECK(expr::decode_tokens({C{{"(", 0.9}}, C{{"3", 0.9}}, C{{")", 0.6}, {"1", 0.4}}}) ==
        std::vector<std::string>{"(", "3", ")"});
  // No operator after an operator or at the end; a minus may open the expression.
  CHECK(expr::decode_tokens({C{{"-", 0.7}}, C{{"+", 0.6}, {"4", 0.3}}, C{{"=", 0.5}, {"2", 0.4}}}) ==
        std::vector<std::string>{"-", "4", "2"});
  // One point per number.
  CHECK(expr::decode_tokens({C{{"1", 0.9}}, C{{".", 0.9}}, C{{"5", 0.9}}, C{{".", 0.5}, {"0", 0.4}}, C{{"7", 1.0}}}) ==
        std::vector<std::string>{"1", ".", "5", "0", "7"});
  // Nothing fits: the most probable one stays.
  CHECK(expr::decode_tokens({C{{"+", 0.6}, {"=", 0.4}}}) == std::vector<std::string>{"+"});
}

TEST_CASE("Decoding: the most probable reading of the whole line wins over the best first glyph", "[expr]") {
  using C = expr::Candidates;
  // A 1 written like "(": choosing "(" first would leave only "-" for the "=" after it
  // (0.6 x 0.1 x 0.9 = 0.054); "1 = 1" is the more probable reading (0.4 x 0.9 x 0.9 = 0.324).
  CHECK(expr::decode_tokens({C{{"(", 0.6}, {"1", 0.4}}, C{{"=", 0.9}, {"-", 0.1}}, C{{"1", 0.9}}}) ==
        std::vector<std::string>{"1", "=", "1"});
  // Brackets balance where some reading balances them: a 1 written like "(" twice in "171 - y".
  CHECK(expr::decode_tokens({C{{"(", 0.55}, {"1", 0.45}}, C{{"7", 0.9}}, C{{"(", 0.55}, {"1", 0.45}}, C{{"-", 0.9}},
                             C{{"y", 0.9}}}) == std::vector<std::string>{"1", "7", "1", "-", "y"});
  // None balances them ("(" is all the first glyph can be): the most probable reading stands.
  CHECK(expr::decode_tokens({C{{"(", 1.0}}, C{{"7", 0.9}}, C{{"+", 0.9}}, C{{"1", 0.9}}}) ==
        std::vector<std::string>{"(", "7", "+", "1"});
  // Where the later glyphs do not care, the first glyph's best candidate stays: "(-1)".
  CHECK(expr::decode_tokens({C{{"(", 0.6}, {"1", 0.4}}, C{{"-", 0.9}, {"=", 0.1}}, C{{"1", 0.9}}, C{{")", 0.9}}}) ==
        std::vector<std::string>{"(", "-", "1", ")"});
}
