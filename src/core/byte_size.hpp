// Byte counts as the all-reduce benchmarks read them (hpcnn bench allreduce,
// tools/sim's hpcnn-sim). Header-only: the simulation build compiles
// src/core/error.cpp and nothing else of core.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace hpcnn {

/// "8", "64K", "17.4M", "1G" (binary units, an optional B or iB: "256KiB") as bytes, from
/// `min_bytes` to 8 GB; otherwise a UsageError naming --OPTION (with the
/// range when a minimum is set).
inline int64_t parse_byte_size(const std::string& text, const std::string& option, int64_t min_bytes = 0) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end ? std::string(end) : "";
  double scale = 1;
  if (unit == "K" || unit == "KB" || unit == "KiB")
    scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    throw UsageError(cat("--", option, ": bad size '", text, "' (e.g. 8, 64K, 17.4M)"));
  if (!(v * scale >= static_cast<double>(min_bytes)) || v * scale > 8e9) {
    throw UsageError(cat("--", option, ": bad size '", text, "'",
                         min_bytes > 0 ? cat(" (", min_bytes, " bytes to 8 GB)") : std::string()));
  }
  return static_cast<int64_t>(v * scale);
}

}  // namespace hpcnn
