// Text helpers shared by the merger's Markdown reports.
#include "report.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace hpcnn::merge {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

std::string warnings_markdown(const std::vector<std::string>& warnings) {
  if (warnings.empty()) return "";
  std::string out = "\nWarnings:\n\n";
  for (const std::string& w : warnings) out += "- " + w + "\n";
  return out;
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace hpcnn::merge
