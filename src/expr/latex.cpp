// LaTeX assembly (see latex.hpp).
#include "expr/latex.hpp"

#include <cctype>

namespace hpcnn::expr {

bool is_spaced_operator(const std::string& token) {
  return token == "+" || token == "-" || token == "\\times" || token == "\\div" || token == "=";
}

std::string assemble_latex(const std::vector<std::string>& tokens) {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    const bool spaced = is_spaced_operator(t) || (i > 0 && is_spaced_operator(tokens[i - 1]));
    // A control word (\times) runs into a following letter unless separated.
    const bool after_command = i > 0 && tokens[i - 1].starts_with('\\') && !t.empty() &&
                               std::isalpha(static_cast<unsigned char>(t.front()));
    if (!out.empty() && (spaced || after_command)) out += ' ';
    out += t;
  }
  return out;
}

}  // namespace hpcnn::expr
