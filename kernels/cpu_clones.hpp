// Host loops compiled twice, for the x86-64 baseline and for x86-64-v4
// (AVX-512), one of them chosen at run time. The project builds for the
// baseline, where the dropout hash's 64-bit multiplies and the other loops
// stay scalar or 4-wide: keras-cnn's dropout mask over 1.2 M elements takes
// 4.0 ms baseline, 0.17 ms AVX-512; ReLU's gradient 0.15 -> 0.07 ms (AMD EPYC,
// 1 thread). Both clones compute bitwise the same: the kernels library is
// built with -ffp-contract=off, so no multiply-add is fused on either
// (tests/unit/test_host_kernels.cpp checks them against the reference,
// bitwise where the loops promise it).
//
// How: a loop is written once as an HPCNN_CPU_CLONE function and called as
// cpu_clones::run<f>(args...), which calls it through one of two wrappers,
// run_v4 (compiled for x86-64-v4, f inlined into it) or run_baseline, picked
// once per process: v4 where the CPU has it, unless HPCNN_CPU_CLONES=baseline
// says otherwise. That variable is how the test suite exercises the baseline
// clone on an AVX-512 machine (.ci/run), which GCC's target_clones (an ifunc
// chosen by the loader from CPUID alone) could not do.
//
// A few loops also have an x86-64-v3 (AVX2) clone, for CPUs with AVX2 but not
// AVX-512 (Haswell to EPYC Milan): run_isa<f>(isa, args...) takes the clone
// of the given Isa, best_isa() being the one the CPU has, capped by
// HPCNN_CPU_CLONES (baseline or x86-64-v3; the latter also makes run() take
// the baseline). The 16-bit gradient conversions (src/comm/compression.cpp)
// use it: 2-4x faster with AVX2's variable shifts and packs than baseline.
//
// A cloned function must do its work inside its own body: helpers it calls
// that are not inline are compiled for the baseline, and vector-typed values
// must not cross a call (the ABI of 32-byte vectors differs between the clones).
#pragma once

#include <utility>

namespace hpcnn::kernels::cpu_clones {

/// The clones run_isa() can take, in increasing order of what the CPU needs
/// (kBaseline first: a zero-initialised Isa is the baseline).
enum class Isa { kBaseline, kV3, kV4 };
/// The best clone this CPU runs (x86-64-v4, -v3 or the baseline), capped by
/// HPCNN_CPU_CLONES (baseline | x86-64-v3). Set when the program is loaded (a
/// constant read, not a call: run() sits in loops over rows); anything run
/// before that reads the baseline, which computes the same.
extern const Isa kBestIsa;
inline Isa best_isa() { return kBestIsa; }
/// Whether run() takes the x86-64-v4 clone: the best clone is x86-64-v4 (the
/// CPU has it and HPCNN_CPU_CLONES caps nothing).
inline bool use_v4() { return kBestIsa == Isa::kV4; }
/// Whether this CPU can run the clone `isa`, whatever HPCNN_CPU_CLONES says
/// (for tests that compare every clone the machine has).
bool cpu_has(Isa isa);

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HPCNN_CPU_CLONE [[gnu::always_inline]] inline
template <auto F, typename... A>
__attribute__((target("arch=x86-64-v4"))) auto run_v4(A&&... args) {
  return F(std::forward<A>(args)...);
}
template <auto F, typename... A>
__attribute__((target("arch=x86-64-v3"))) auto run_v3(A&&... args) {
  return F(std::forward<A>(args)...);
}
template <auto F, typename... A>
auto run_baseline(A&&... args) {
  return F(std::forward<A>(args)...);
}
template <auto F, typename... A>
auto run(A&&... args) {
  return use_v4() ? run_v4<F>(std::forward<A>(args)...) : run_baseline<F>(std::forward<A>(args)...);
}
/// The clone of `isa`, which the CPU must have (cpu_has).
template <auto F, typename... A>
auto run_isa(Isa isa, A&&... args) {
  if (isa == Isa::kV4) return run_v4<F>(std::forward<A>(args)...);
  if (isa == Isa::kV3) return run_v3<F>(std::forward<A>(args)...);
  return run_baseline<F>(std::forward<A>(args)...);
}
#else
#define HPCNN_CPU_CLONE inline
template <auto F, typename... A>
auto run(A&&... args) {
  return F(std::forward<A>(args)...);
}
template <auto F, typename... A>
auto run_isa(Isa, A&&... args) {
  return F(std::forward<A>(args)...);
}
#endif

}  // namespace hpcnn::kernels::cpu_clones
