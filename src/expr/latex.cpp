// LaTeX assembly (see latex.hpp).
#include "expr/latex.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

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

/// Where a left-to-right reading stands: what the rules of latex.hpp look at.
struct State {
  Kind prev = Kind::kStart;
  bool after_equals = false;
  int open = 0;
  bool number_has_point = false;
  bool operator==(const State&) const = default;

  bool allows(const std::string& t, bool last) const {
    switch (kind_of(t)) {
      case Kind::kBinary: return is_operand_end(prev) && !last;
      case Kind::kMinus:
        return (is_operand_end(prev) || prev == Kind::kStart || prev == Kind::kOpen || after_equals) && !last;
      case Kind::kClose: return open > 0 && is_operand_end(prev);
      case Kind::kPoint: return prev == Kind::kDigit && !number_has_point && !last;
      case Kind::kDigit: return prev != Kind::kClose;
      case Kind::kOpen: return prev != Kind::kPoint && !last;
      default: return true;
    }
  }
  State after(const std::string& t) const {
    State s = *this;
    const Kind k = kind_of(t);
    if (k == Kind::kOpen) ++s.open;
    if (k == Kind::kClose && s.open > 0) --s.open;
    if (k == Kind::kPoint) s.number_has_point = true;
    if (k != Kind::kDigit && k != Kind::kPoint) s.number_has_point = false;
    s.prev = k;
    s.after_equals = t == "=";
    return s;
  }
};

/// One reading so far: its state, log-probability and tokens.
struct Reading {
  State state;
  double score = 0.0;
  Decoded decoded;
};

double log_probability(double p) { return std::log(std::max(p, 1e-30)); }
}  // namespace

std::vector<std::string> decode_tokens(const std::vector<Candidates>& glyphs) { return decode(glyphs, {}).tokens; }

Decoded decode(const std::vector<Candidates>& glyphs, const std::vector<bool>& raised,
               const std::vector<bool>& point_sized) {
  // Every well-formed reading is kept, one per state (the best); a state is
  // small (the previous kind, the open brackets, a point in the number), so
  // this is exact and cheap: a few states times 20 classes per glyph.
  std::vector<Reading> readings(1);
  const auto add = [](std::vector<Reading>& next, Reading r) {
    for (Reading& other : next) {
      if (other.state == r.state) {
        if (r.score > other.score) other = std::move(r);
        return;
      }
    }
    next.push_back(std::move(r));
  };
  for (size_t i = 0; i < glyphs.size(); ++i) {
    if (glyphs[i].empty()) continue;
    const bool last = i + 1 == glyphs.size();
    const std::string& top = glyphs[i].front().first;
    const Kind top_kind = kind_of(top);
    const bool superscript =
        i < raised.size() && raised[i] && (top_kind == Kind::kDigit || top_kind == Kind::kVariable);
    const bool point = i < point_sized.size() && point_sized[i];
    double point_probability = 0.0;
    for (const auto& [token, probability] : glyphs[i]) {
      if (token == ".") point_probability = probability;
    }
    const bool looks_like_point = point_probability >= kPointMinProbability;
    const bool digit_next =
        i + 1 < glyphs.size() && !glyphs[i + 1].empty() && kind_of(glyphs[i + 1].front().first) == Kind::kDigit;
    std::vector<Reading> next;
    for (const Reading& r : readings) {
      const auto extend = [&](const std::string& token, double score, bool is_raised) {
        Reading e = r;
        e.score += score;
        e.decoded.raised.push_back(is_raised);
        e.decoded.tokens.push_back(token);
        if (!token.empty()) e.state = r.state.after(token);  // a fleck leaves the state as it was
        add(next, std::move(e));
      };
      if (point && !superscript) {
        // A point where one fits before a digit, else a fleck: no choice, no score.
        extend(r.state.allows(".", last) && digit_next && looks_like_point ? "." : "", 0.0, false);
        continue;
      }
      if (superscript) {  // the most probable digit or variable, wherever it stands
        extend(top, log_probability(glyphs[i].front().second), true);
        continue;
      }
      bool any = false;
      for (const auto& [token, probability] : glyphs[i]) {
        if (!r.state.allows(token, last)) continue;
        extend(token, log_probability(probability), false);
        any = true;
      }
      if (!any) extend(top, log_probability(glyphs[i].front().second), false);  // nothing fits: the most probable
    }
    readings = std::move(next);
  }
  // The most probable reading that closes every bracket it opens; where none does, the most probable.
  const auto best = std::max_element(readings.begin(), readings.end(), [](const Reading& a, const Reading& b) {
    if ((a.state.open == 0) != (b.state.open == 0)) return b.state.open == 0;
    return a.score < b.score;
  });
  return best->decoded;
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
