// Reads the generated build_info.hpp once, here.
#include "core/build_info_access.hpp"

#include "hpcnn/build_info.hpp"
#include "hpcnn/git_revision.hpp"

namespace hpcnn {
std::string version_string() {
  return std::string(build::kVersion) + " (git " + build::kGitRevision + ", " + build::kBuildType + ")";
}
std::string git_revision() { return build::kGitRevision; }
std::string compiler_string() { return build::kCxxCompiler; }
}  // namespace hpcnn
