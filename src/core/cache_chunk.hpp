// The cache rule a forward pass over a large batch is cut into chunks by: one
// rule for the training Model's evaluation (Model::evaluate) and the inference
// engine (quant::Engine::chunk_size), so the two cannot drift apart.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "core/error.hpp"

namespace hpcnn {

/// One core's L2 cache in bytes as the OS reports it; 1 MiB where it reports
/// none (some VMs), a common L2 per core.
inline int64_t l2_cache_bytes() {
  const long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
  return l2 > 0 ? static_cast<int64_t>(l2) : int64_t{1} << 20;
}

/// Samples whose largest op's input and output fit the compute threads' L2
/// caches together: `threads` x `l2_bytes` over `bytes_per_sample` (the bytes
/// one sample's largest op reads and writes). A fraction below 1 means even
/// one sample spills.
inline double samples_in_l2(int64_t bytes_per_sample, int threads, int64_t l2_bytes = l2_cache_bytes()) {
  HPCNN_CHECK(bytes_per_sample > 0 && threads > 0 && l2_bytes > 0, "cache rule: ", bytes_per_sample,
              " bytes a sample, ", threads, " threads, ", l2_bytes, " bytes of L2");
  return static_cast<double>(l2_bytes) * static_cast<double>(threads) / static_cast<double>(bytes_per_sample);
}

/// Samples per chunk for a batch of `n` under the cache rule: samples_in_l2
/// rounded, at least 1 and at most n. HPCNN_INFER_CHUNK=N overrides it (0:
/// the whole batch), for measurements; both forward passes read it.
inline int64_t cache_chunk(int64_t n, double samples_in_l2) {
  if (const char* env = std::getenv("HPCNN_INFER_CHUNK")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    HPCNN_CHECK(end != env && *end == '\0' && v >= 0, "HPCNN_INFER_CHUNK='", env,
                "' (expected a sample count, 0: whole batch)");
    return v == 0 ? n : std::min<int64_t>(n, v);
  }
  return std::clamp<int64_t>(std::llround(samples_in_l2), 1, std::max<int64_t>(n, 1));
}

}  // namespace hpcnn
