// Glyph answers -> one LaTeX string.
//
// Each glyph's answer is a class name of the math-symbols dataset, which is
// its LaTeX ("7", "\times", "("). Binary operators and relations
// (+ - \times \div =) are set off by spaces, everything else is written
// together, so "1 2 \times ( 3 + 4 ) = 8 4" becomes "12 \times (3 + 4) = 84"
// (a command followed by a letter always gets its space, so \times x never
// becomes \timesx).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hpcnn::expr {

/// One glyph's candidate tokens with their probabilities, most probable first.
using Candidates = std::vector<std::pair<std::string, double>>;

/// One token per glyph, left to right: the most probable well-formed reading
/// of the whole line (the largest product of the chosen candidates'
/// probabilities over all readings that obey the rules below; where no
/// candidate of a glyph fits, its most probable one). Whole line, not glyph by
/// glyph: a 1 written like "(" before "=" reads "1 = 1", where choosing "(" first
/// would force the "=" into a "-" ("( - 1"); on 1,000 validation expressions
/// this read 4 more right than the glyph-by-glyph choice (results/math). A
/// reading that closes every "(" it opens wins over one that does not, however
/// probable (a whole expression has its brackets balanced; where no reading
/// balances them, the most probable stands): a 1 written like "(" in "171 - y"
/// no longer reads "(7( - y" (+13 of those 1,000). Well
/// formed: a binary operator (+ \times \div =) follows a digit, variable or
/// ")" and is not last; a minus may also open the expression or follow "("
/// or "="; ")" closes an open "(" after a digit, variable or ")"; "." follows
/// a digit of a number that has no point yet and is not last; a digit does
/// not follow ")"; "(" is not last. So a 1 written like ")" with no open
/// bracket reads as 1, and an "=" whose bars merged into one reads as "-"
/// only where a minus fits.
std::vector<std::string> decode_tokens(const std::vector<Candidates>& glyphs);

/// Tokens ("" for a glyph read as a fleck) and which of them are superscripts.
struct Decoded {
  std::vector<std::string> tokens;
  std::vector<bool> raised;
};
/// decode_tokens with the segmentation's superscript marks (`raised`, one per
/// glyph, empty for none): a raised glyph whose most probable token is a digit
/// or a variable is a superscript and reads as that token (a digit may then
/// follow ")": (x+1)^2); a raised operator, bracket or point stays on the line
/// and is decoded as any other glyph.
///
/// `point_sized` (empty for none): glyphs that are a decimal point or a fleck
/// (segment.hpp). Such a glyph reads as "." where a point fits, the next
/// glyph's most probable token is a digit and the classifier gives "." at
/// least kPointMinProbability; otherwise it is a fleck: its token is ""
/// (dropped; transcribe leaves it out). The classifier's word: on 1,000
/// validation expressions (results/math) the points it read gave "." 0.23 to
/// 1.0, the flecks beside digits that became points 0.001 to 0.09 (+9 right).
Decoded decode(const std::vector<Candidates>& glyphs, const std::vector<bool>& raised,
               const std::vector<bool>& point_sized = {});

/// See decode: the least probability of "." for a point-sized glyph to be a point.
inline constexpr double kPointMinProbability = 0.15;

bool is_spaced_operator(const std::string& token);
/// `raised` (empty for none, else one per token): each run of raised tokens
/// becomes a superscript, ^2 for one character, ^{10} for more.
std::string assemble_latex(const std::vector<std::string>& tokens, const std::vector<bool>& raised = {});

}  // namespace hpcnn::expr
