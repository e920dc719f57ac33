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

  bool allows(const std::string& t, bool last) const { return allows(kind_of(t), last); }
  bool allows(Kind kind, bool last) const {
    switch (kind) {
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
  State after(const std::string& t) const { return after(kind_of(t), t == "="); }
  State after(Kind k, bool equals) const {
    State s = *this;
    if (k == Kind::kOpen) ++s.open;
    if (k == Kind::kClose && s.open > 0) --s.open;
    if (k == Kind::kPoint) s.number_has_point = true;
    if (k != Kind::kDigit && k != Kind::kPoint) s.number_has_point = false;
    s.prev = k;
    s.after_equals = equals;
    return s;
  }
};

/// One reading so far: its state, log-probability and last step (readings
/// share their earlier steps through `parent`, so extending one copies nothing).
struct Reading {
  State state;
  double score = 0.0;
  int step = -1;  ///< into the steps, -1 before the first glyph
};
struct Step {
  int parent = -1;
  const std::string* token = nullptr;
  bool raised = false;
};

double log_probability(double p) { return std::log(std::max(p, 1e-30)); }

const std::string kPointToken = ".";
const std::string kFleckToken;
}  // namespace

std::vector<std::string> decode_tokens(const std::vector<Candidates>& glyphs) { return decode(glyphs, {}).tokens; }

Decoded decode(const std::vector<Candidates>& glyphs, const std::vector<bool>& raised,
               const std::vector<bool>& point_sized) {
  // Every well-formed reading is kept, one per state (the best); a state is
  // small (the previous kind, the open brackets, a point in the number), so
  // this is exact and cheap: at most a few dozen states times 20 classes per
  // glyph (64 us for 12 glyphs of 20 classes, against 0.4 us glyph by glyph: a
  // request to /transcribe takes about 4 ms).
  const int max_open = static_cast<int>(glyphs.size());
  const auto slot_of = [&](const State& st) {
    return ((std::min(st.open, max_open) * 9 + static_cast<int>(st.prev)) * 2 + (st.after_equals ? 1 : 0)) * 2 +
           (st.number_has_point ? 1 : 0);
  };
  std::vector<int> slots(static_cast<size_t>((max_open + 1) * 36), -1);  // state -> index into next
  std::vector<Reading> readings(1);
  std::vector<Step> steps;
  for (size_t i = 0; i < glyphs.size(); ++i) {
    if (glyphs[i].empty()) continue;
    const bool last = i + 1 == glyphs.size();
    const std::string& top = glyphs[i].front().first;
    const Kind top_kind = kind_of(top);
    const bool superscript =
        i < raised.size() && raised[i] && (top_kind == Kind::kDigit || top_kind == Kind::kVariable);
    const bool point = i < point_sized.size() && point_sized[i];
    double point_probability = 0.0;
    std::vector<Kind> kinds;  // each candidate's kind and log-probability, once per glyph
    std::vector<double> scores;
    for (const auto& [token, probability] : glyphs[i]) {
      if (token == ".") point_probability = probability;
      kinds.push_back(kind_of(token));
      scores.push_back(log_probability(probability));
    }
    const bool looks_like_point = point_probability >= kPointMinProbability;
    const bool digit_next =
        i + 1 < glyphs.size() && !glyphs[i + 1].empty() && kind_of(glyphs[i + 1].front().first) == Kind::kDigit;
    std::vector<Reading> next;
    for (const Reading& r : readings) {
      const auto extend = [&](const std::string& token, Kind kind, double score, bool is_raised) {
        // a fleck ("") leaves the state as it was
        const State state = token.empty() ? r.state : r.state.after(kind, kind == Kind::kBinary && token == "=");
        int& slot = slots[static_cast<size_t>(slot_of(state))];
        if (slot >= 0 && next[static_cast<size_t>(slot)].score >= r.score + score) return;
        steps.push_back({r.step, &token, is_raised});
        const Reading e{state, r.score + score, static_cast<int>(steps.size()) - 1};
        if (slot >= 0) {
          next[static_cast<size_t>(slot)] = e;
        } else {
          slot = static_cast<int>(next.size());
          next.push_back(e);
        }
      };
      if (point && !superscript) {
        // A point where one fits before a digit, else a fleck: no choice, no score.
        const bool is_point = r.state.allows(Kind::kPoint, last) && digit_next && looks_like_point;
        extend(is_point ? kPointToken : kFleckToken, Kind::kPoint, 0.0, false);
        continue;
      }
      if (superscript) {  // the most probable digit or variable, wherever it stands
        extend(top, top_kind, scores.front(), true);
        continue;
      }
      bool any = false;
      for (size_t c = 0; c < glyphs[i].size(); ++c) {
        if (!r.state.allows(kinds[c], last)) continue;
        extend(glyphs[i][c].first, kinds[c], scores[c], false);
        any = true;
      }
      if (!any) extend(top, top_kind, scores.front(), false);  // nothing fits: the most probable
    }
    for (const Reading& r : next) slots[static_cast<size_t>(slot_of(r.state))] = -1;
    readings = std::move(next);
  }
  // The most probable reading that closes every bracket it opens; where none does, the most probable.
  const auto best = std::max_element(readings.begin(), readings.end(), [](const Reading& a, const Reading& b) {
    if ((a.state.open == 0) != (b.state.open == 0)) return b.state.open == 0;
    return a.score < b.score;
  });
  Decoded decoded;
  for (int k = best->step; k >= 0; k = steps[static_cast<size_t>(k)].parent) {
    decoded.tokens.push_back(*steps[static_cast<size_t>(k)].token);
    decoded.raised.push_back(steps[static_cast<size_t>(k)].raised);
  }
  std::reverse(decoded.tokens.begin(), decoded.tokens.end());
  std::reverse(decoded.raised.begin(), decoded.raised.end());
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
