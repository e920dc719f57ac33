// The run-time choice of kernels/cpu_clones.hpp.
#include "cpu_clones.hpp"

#include <cstdlib>
#include <string_view>

namespace hpcnn::kernels::cpu_clones {

bool cpu_has(Isa isa) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
  __builtin_cpu_init();
  if (isa == Isa::kV4) return __builtin_cpu_supports("x86-64-v4") != 0;
  if (isa == Isa::kV3) return __builtin_cpu_supports("x86-64-v3") != 0;
  return true;
#else
  return isa == Isa::kBaseline;  // run_isa has one clone here
#endif
}

namespace {
Isa decide() {
  const char* forced = std::getenv("HPCNN_CPU_CLONES");
  const std::string_view cap = forced != nullptr ? forced : "";
  if (cap == "baseline") return Isa::kBaseline;
  if (cpu_has(Isa::kV4) && cap != "x86-64-v3") return Isa::kV4;
  return cpu_has(Isa::kV3) ? Isa::kV3 : Isa::kBaseline;
}
}  // namespace

const Isa kBestIsa = decide();

}  // namespace hpcnn::kernels::cpu_clones
