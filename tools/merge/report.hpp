// Text helpers shared by the merger's Markdown reports.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hpcnn::merge {

/// `v` with `digits` decimals; "n/a" when not finite.
std::string fixed(double v, int digits);

/// "\nWarnings:\n\n- ...\n" for a report's end; "" when there are none.
std::string warnings_markdown(const std::vector<std::string>& warnings);

/// `j` as text plus a newline. Bytes that are not UTF-8 (a damaged run.json
/// quoted in a warning, a host name) become U+FFFD instead of throwing
/// nlohmann's type_error 316 (found by tests/fuzz/fuzz_run_json).
std::string json_text(const nlohmann::json& j, int indent = 2);

}  // namespace hpcnn::merge
