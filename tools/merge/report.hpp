// Text helpers shared by the merger's Markdown reports.
#pragma once

#include <string>
#include <vector>

namespace hpcnn::merge {

/// `v` with `digits` decimals; "n/a" when not finite.
std::string fixed(double v, int digits);

/// "\nWarnings:\n\n- ...\n" for a report's end; "" when there are none.
std::string warnings_markdown(const std::vector<std::string>& warnings);

}  // namespace hpcnn::merge
