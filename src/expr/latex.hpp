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
#include <vector>

namespace hpcnn::expr {

bool is_spaced_operator(const std::string& token);
std::string assemble_latex(const std::vector<std::string>& tokens);

}  // namespace hpcnn::expr
