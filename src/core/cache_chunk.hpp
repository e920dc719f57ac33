// The cache rule a forward pass over a large batch is cut into chunks by: one
// rule for the training Model's evaluation (Model::evaluate) and the inference
// engine (quant::Engine::chunk_size), so the two cannot drift apart.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

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

/// The weights term of the cache rule: every chunk reads each op's weights
/// again, and a weight matrix larger than a core's L2 comes from L3 or memory
/// each time. A chunk whose largest op moves, on each of `threads` threads, as
/// many bytes (`bytes_per_sample`: that op's input and output for one sample)
/// as the largest weight matrix (`weight_bytes`) keeps that re-read to at most
/// half of the traffic: `threads` x weights / bytes. Weights within the L2 ask
/// for no more than samples_in_l2 already gives, and the chunk's working set
/// grows to the weights' size and no further. mnist-cnn: dense:64's 1.4 MB
/// against the max pool's 108 KB a sample, 13 samples a thread, where the L2
/// term alone gave 10 (chunks of 32 were 1.09x faster than 10 on 1 thread and
/// 1.22x faster than 19 on 2, quiet, results/peers/README.md).
inline double samples_for_weights(int64_t weight_bytes, int64_t bytes_per_sample, int threads) {
  HPCNN_CHECK(weight_bytes >= 0 && bytes_per_sample > 0 && threads > 0, "cache rule: ", weight_bytes,
              " bytes of weights, ", bytes_per_sample, " bytes a sample, ", threads, " threads");
  return static_cast<double>(weight_bytes) * static_cast<double>(threads) / static_cast<double>(bytes_per_sample);
}

/// Samples per chunk for a batch of `n` under the cache rule: the larger of
/// samples_in_l2 and the ops' samples_for_weights (the caller's
/// `samples_in_l2`), rounded, at least 1 and at most n. HPCNN_INFER_CHUNK=N overrides it (0:
/// the whole batch), for measurements; both forward passes read it.
inline int64_t cache_chunk(int64_t n, double samples) {
  if (const char* env = std::getenv("HPCNN_INFER_CHUNK")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    HPCNN_CHECK(end != env && *end == '\0' && v >= 0, "HPCNN_INFER_CHUNK='", env,
                "' (expected a sample count, 0: whole batch)");
    return v == 0 ? n : std::min<int64_t>(n, v);
  }
  return std::clamp<int64_t>(std::llround(samples), 1, std::max<int64_t>(n, 1));
}

/// How a forward pass over a batch uses `threads` threads: `slots` chunks of
/// `chunk` samples run at once, one per thread, each op inside a chunk on
/// that one thread (slots > 1); or one chunk at a time, each op split over
/// all the threads (slots == 1: oneDNN's OpenMP and the host loops fork and
/// join per op per chunk).
struct ChunkSchedule {
  int64_t chunk = 1;
  int slots = 1;
};

/// The schedule for a batch of `n` on `threads` threads, given the cache
/// rule's samples a chunk for one thread (`samples_one`: each thread then has
/// its own L2 and reads the weights once per chunk itself) and for all of
/// them splitting each op (`samples_all`). When the one-thread chunks number
/// at least `threads`, each thread takes whole chunks: no fork and join per
/// op (mnist-cnn at 512: 1.14x less CPU on 2 loaded threads, results/peers/par2.md), and the
/// chunks are evened out to a multiple of `threads` (never larger than the
/// rule's) so no thread idles in the last round. Otherwise (a small batch)
/// the ops are split: a lone chunk per thread would leave threads idle.
/// HPCNN_INFER_SCHEDULE=ops or =chunks forces one (chunks: wherever there are
/// 2 chunks or more), for measurements and tests; HPCNN_INFER_CHUNK fixes the
/// chunk size of either (no evening out).
inline ChunkSchedule chunk_schedule(int64_t n, int threads, double samples_one, double samples_all) {
  std::string mode;
  if (const char* env = std::getenv("HPCNN_INFER_SCHEDULE")) mode = env;
  HPCNN_CHECK(mode.empty() || mode == "ops" || mode == "chunks", "HPCNN_INFER_SCHEDULE='", mode,
              "' (expected ops: each op split over the threads, or chunks: one chunk per thread)");
  const int64_t one = cache_chunk(n, samples_one);
  const int64_t chunks = (n + one - 1) / one;
  const bool per_thread = threads > 1 && mode != "ops" && (mode == "chunks" ? chunks >= 2 : chunks >= threads);
  if (!per_thread) return {cache_chunk(n, samples_all), 1};
  const auto slots = static_cast<int>(std::min<int64_t>(threads, chunks));
  if (std::getenv("HPCNN_INFER_CHUNK") != nullptr) return {one, slots};
  const int64_t rounds = (chunks + slots - 1) / slots;
  return {(n + rounds * slots - 1) / (rounds * slots), slots};
}

}  // namespace hpcnn
