// LaTeX assembly (see latex.hpp).
#include "expr/latex.hpp"

#include <cctype>

namespace hpcnn::expr {

bool is_spaced_operator(const std::string& token) {
  return token == "+" || token == "-" || token == "\\times" || token == "\\div" || token == "=";
}

namespace {
enum class Kind { kStart, kDigit, kVariable, kOpen, kClose, kPoint, kBinary, kMinus, kOther };

Kind kind_of(const std::string& t) {
  if (t.size() == 1 && std::isdigit(static_cast<unsigned char>(t[0]))) return Kind::kDigit;
  if (t == "x" || t == "y") return Kind::kVariable;
  if (t == "(") return Kind::kOpen;
  if (t == ")") return Kind::kClose;
  if (t == ".") return Kind::kPoint;
  if (t == "-") return Kind::kMinus;
  if (t == "+" || t == "\\times" || t == "\\div" || t == "=") return Kind::kBinary;
  return Kind::kOther;
}

bool is_operand_end(Kind k) { return k == Kind::kDigit || k == Kind::kVariable || k == Kind::kClose; }
}  // namespace

std::vector<std::string> decode_tokens(const std::vector<Candidates>& glyphs) { return decode(glyphs, {}).tokens; }

Decoded decode(const std::vector<Candidates>& glyphs, const std::vector<bool>& raised,
               const std::vector<bool>& point_sized) {
  Decoded decoded;
  std::vector<std::string>& out = decoded.tokens;
  Kind prev = Kind::kStart;
  std::string prev_token;
  int open = 0;
  bool number_has_point = false;
  for (size_t i = 0; i < glyphs.size(); ++i) {
    const bool last = i + 1 == glyphs.size();
    const auto allowed = [&](const std::string& t) {
      switch (kind_of(t)) {
        case Kind::kBinary: return is_operand_end(prev) && !last;
        case Kind::kMinus:
          return (is_operand_end(prev) || prev == Kind::kStart || prev == Kind::kOpen || prev_token == "=") && !last;
        case Kind::kClose: return open > 0 && is_operand_end(prev);
        case Kind::kPoint: return prev == Kind::kDigit && !number_has_point && !last;
        case Kind::kDigit: return prev != Kind::kClose;
        case Kind::kOpen: return prev != Kind::kPoint && !last;
        default: return true;
      }
    };
    if (glyphs[i].empty()) continue;
    std::string chosen = glyphs[i].front().first;
    const Kind top = kind_of(chosen);
    const bool superscript = i < raised.size() && raised[i] && (top == Kind::kDigit || top == Kind::kVariable);
    for (const auto& [token, probability] : glyphs[i]) {
      if (superscript) break;  // the most probable digit or variable, wherever it stands
      if (allowed(token)) {
        chosen = token;
        break;
      }
    }
    if (i < point_sized.size() && point_sized[i]) {
      const bool digit_next =
          i + 1 < glyphs.size() && !glyphs[i + 1].empty() && kind_of(glyphs[i + 1].front().first) == Kind::kDigit;
      if (!(allowed(".") && digit_next)) {  // a fleck: no token, and the state stays as it was
        decoded.raised.push_back(false);
        out.emplace_back();
        continue;
      }
      chosen = ".";
    }
    decoded.raised.push_back(superscript);
    const Kind k = kind_of(chosen);
    if (k == Kind::kOpen) ++open;
    if (k == Kind::kClose && open > 0) --open;
    if (k == Kind::kPoint) number_has_point = true;
    if (k != Kind::kDigit && k != Kind::kPoint) number_has_point = false;
    prev = k;
    prev_token = chosen;
    out.push_back(chosen);
  }
  return decoded;
}

std::string assemble_latex(const std::vector<std::string>& tokens, const std::vector<bool>& raised) {
  const auto is_raised = [&](size_t i) { return i < raised.size() && raised[i]; };
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (is_raised(i)) {  // a superscript run: ^2 or ^{10}
      size_t end = i;
      std::string run;
      while (end < tokens.size() && is_raised(end)) run += tokens[end++];
      out += end - i == 1 && run.size() == 1 ? "^" + run : "^{" + run + "}";
      i = end - 1;
      continue;
    }
    const bool spaced = is_spaced_operator(t) || (i > 0 && is_spaced_operator(tokens[i - 1]));
    // A control word (\times) runs into a following letter unless separated.
    const bool after_command =
        i > 0 && tokens[i - 1].starts_with('\\') && !t.empty() && std::isalpha(static_cast<unsigned char>(t.front()));
    if (!out.empty() && (spaced || after_command)) out += ' ';
    out += t;
  }
  return out;
}

}  // namespace hpcnn::expr
