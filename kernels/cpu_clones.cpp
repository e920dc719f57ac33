// The run-time choice of kernels/cpu_clones.hpp.
#include "cpu_clones.hpp"

#include <cstdlib>
#include <string_view>

namespace hpcnn::kernels::cpu_clones {

namespace {
bool decide() {
  const char* forced = std::getenv("HPCNN_CPU_CLONES");
  if (forced != nullptr && std::string_view(forced) == "baseline") return false;
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v4") != 0;
#else
  return false;
#endif
}
}  // namespace

const bool kUseV4 = decide();

}  // namespace hpcnn::kernels::cpu_clones
