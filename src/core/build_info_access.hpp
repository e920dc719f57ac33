// Build facts for manifests and `hpcnn info`, without exposing the generated header.
#pragma once

#include <string>

namespace hpcnn {
/// "0.1.0 (git abc123, Release)".
std::string version_string();
std::string git_revision();
std::string compiler_string();
}  // namespace hpcnn
