// The ranks-agree check (see ranks_agree.hpp).
#include "train/ranks_agree.hpp"

#include <nlohmann/json.hpp>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "core/sha256.hpp"

namespace hpcnn::train {

namespace {
using nlohmann::json;

/// The first key path at which `a` and `b` differ (objects by key in order,
/// arrays of equal length item by item); false when they are equal.
bool first_difference(const json& a, const json& b, std::string& path, json& va, json& vb) {
  if (a == b) return false;
  const auto child = [&](const std::string& step) {
    return path.empty() || step.front() == '[' ? path + step : path + "." + step;
  };
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      const json other = b.contains(key) ? b.at(key) : json();
      std::string inner = child(key);
      if (!b.contains(key) || first_difference(value, other, inner, va, vb)) {
        if (!b.contains(key)) {
          va = value;
          vb = json();
        }
        path = inner;
        return true;
      }
    }
    for (const auto& [key, value] : b.items()) {
      if (a.contains(key)) continue;
      path = child(key);
      va = json();
      vb = value;
      return true;
    }
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (size_t i = 0; i < a.size(); ++i) {
      std::string inner = child(cat("[", i, "]"));
      if (first_difference(a[i], b[i], inner, va, vb)) {
        path = inner;
        return true;
      }
    }
  }
  va = a;
  vb = b;
  return true;
}

std::string shown(const json& v) {
  if (v.is_null()) return "nothing";
  const std::string text = v.dump();
  return text.size() > 120 ? text.substr(0, 120) + "..." : text;
}
}  // namespace

std::string describe_difference(int rank_a, const std::string& a, int rank_b, const std::string& b) {
  const json ja = json::parse(a, nullptr, false);
  const json jb = json::parse(b, nullptr, false);
  std::string path;
  json va, vb;
  if (!ja.is_discarded() && !jb.is_discarded() && first_difference(ja, jb, path, va, vb) && !path.empty()) {
    return cat("rank ", rank_a, " has ", path, " = ", shown(va), ", rank ", rank_b, " has ", path, " = ", shown(vb));
  }
  return cat("rank ", rank_a, " has '", a.substr(0, 120), "', rank ", rank_b, " has '", b.substr(0, 120), "'");
}

void check_ranks_agree(comm::Communicator& comm, const std::vector<std::pair<std::string, std::string>>& items) {
  if (comm.size() == 1) return;
  for (const auto& [what, text] : items) {
    const std::string digest = sha256_hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    const unsigned long long h = std::stoull(digest.substr(0, 15), nullptr, 16);
    if (comm.all_equal(h)) continue;
    // Every rank is here: rank 0 finds the first rank that differs from it
    // and what differs, and every rank stops with that one message.
    const std::vector<std::string> texts = comm.gather(text);
    std::string differs;
    for (size_t r = 1; r < texts.size() && differs.empty(); ++r) {
      if (texts[r] != texts[0]) differs = describe_difference(static_cast<int>(r), texts[r], 0, texts[0]);
    }
    differs = comm.broadcast(differs);
    HPCNN_THROW("ranks disagree on the ", what, ": ", differs, " (every rank must be started with the same ", what,
                ")");
  }
}

}  // namespace hpcnn::train
