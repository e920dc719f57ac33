// Per-element cost of the 16-bit conversions (issue 30, README.md "Cheaper
// conversions and waits"): the scalar functions of src/comm/compression.hpp
// in plain loops against each clone's Codec16 loops, 600k floats (a rank's
// half of keras-cnn's gradients at p = 2), best of 15. Build and run from the
// repository root (the flags of the release build's compression.cpp):
//
//   g++ -O3 -DNDEBUG -std=c++20 -fno-trapping-math -Isrc -Ikernels results/overlap/bf16/conv_bench.cpp \
//     src/comm/compression.cpp kernels/cpu_clones.cpp -o /tmp/conv_bench && /tmp/conv_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "comm/compression.hpp"

using namespace hpcnn::comm;
using hpcnn::kernels::cpu_clones::Isa;

template <class F>
double best_of_15(F f) {
  double best = 1e9;
  for (int k = 0; k < 15; ++k) {
    const auto t = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return best;
}

int main() {
  const int64_t n = 600000;
  std::vector<float> x(n), y(n);
  std::vector<uint16_t> h(n);
  std::mt19937 g(1);
  std::normal_distribution<float> d(0, 1e-3f);
  for (auto& v : x) v = d(g);
  for (int fp16 = 0; fp16 < 2; ++fp16) {
    const char* name = fp16 ? "fp16" : "bf16";
    const double ns = 1e9 / static_cast<double>(n);
    const double se = best_of_15([&] {
      for (int64_t i = 0; i < n; ++i) h[i] = fp16 ? to_fp16(x[i]) : to_bf16(x[i]);
      asm volatile("" ::: "memory");
    });
    const double sa = best_of_15([&] {
      for (int64_t i = 0; i < n; ++i) y[i] += fp16 ? from_fp16(h[i]) : from_bf16(h[i]);
      asm volatile("" ::: "memory");
    });
    const double sr = best_of_15([&] {
      for (int64_t i = 0; i < n; ++i) y[i] = fp16 ? round_fp16(y[i]) : round_bf16(y[i]);
      asm volatile("" ::: "memory");
    });
    std::printf("%s scalar loops: encode %.3f, widen-and-add %.3f, round %.3f ns an element\n", name, se * ns, sa * ns,
                sr * ns);
    for (Isa isa : {Isa::kBaseline, Isa::kV3, Isa::kV4}) {
      if (!hpcnn::kernels::cpu_clones::cpu_has(isa)) continue;
      const Codec16& c = fp16 ? fp16_codec(isa) : bf16_codec(isa);
      const double e = best_of_15([&] { c.encode(x.data(), h.data(), n); });
      const double a = best_of_15([&] { c.widen_add(h.data(), y.data(), n); });
      const double w = best_of_15([&] { c.widen(h.data(), y.data(), n); });
      const double r = best_of_15([&] { c.round(y.data(), n); });
      const double ar = best_of_15([&] { c.widen_add_round(h.data(), y.data(), n); });
      static const char* const kNames[] = {"baseline", "x86-64-v3", "x86-64-v4"};
      std::printf("%s %s clone: encode %.3f, widen %.3f, widen-and-add %.3f, round %.3f, add+round %.3f ns\n", name,
                  kNames[static_cast<int>(isa)], e * ns, w * ns, a * ns, r * ns, ar * ns);
    }
  }
}
