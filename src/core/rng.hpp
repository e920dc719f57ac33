// Deterministic, platform-independent random numbers.
//
// std::uniform_int_distribution and friends are implementation-defined, so a
// seed would not give the same data on every compiler. Everything here is
// spelled out: splitmix64 for key derivation, xoshiro256** for streams,
// Lemire's unbiased bounded integers, Box-Muller normals. Streams are keyed
// (seed, purpose, index...) so a sample's randomness depends on its global
// index only, never on how the work was split across ranks or shards.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>

namespace hpcnn {

/// One splitmix64 step: a bijective 64-bit mixer.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Hashes a list of keys into one 64-bit key (order matters).
constexpr uint64_t derive_key(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x6a09e667f3bcc908ULL;
  for (uint64_t p : parts) {
    h = splitmix64(h ^ splitmix64(p));
  }
  return h;
}

/// xoshiro256** seeded from a 64-bit key.
class Rng {
 public:
  explicit Rng(uint64_t key);
  uint64_t next_u64();
  /// Uniform in [0, bound); bound > 0 (Lemire's multiply-and-reject).
  uint64_t uniform_index(uint64_t bound);
  /// Uniform double in [0, 1) with 53 random bits.
  double uniform();
  /// Uniform double in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box-Muller, one value per call).
  double normal();
  bool bernoulli(double p) { return uniform() < p; }

 private:
  uint64_t s_[4];
};

/// Fisher-Yates shuffle driven by rng.
template <typename T>
void shuffle(std::span<T> values, Rng& rng) {
  for (size_t i = values.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.uniform_index(i));
    T tmp = values[i - 1];
    values[i - 1] = values[j];
    values[j] = tmp;
  }
}

}  // namespace hpcnn
