// Running a ChunkSchedule's slots (core/cache_chunk.hpp) on OpenMP threads:
// one loop for Model::evaluate_slots and quant::Engine::run_slots. Include
// only from files compiled with OpenMP.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <cstdint>
#include <exception>

namespace hpcnn {
/// Runs a ChunkSchedule's slots (slots > 1): `slots` OpenMP threads, each with
/// a team of one inside (oneDNN runs sequentially, the host loops' nested
/// regions get one thread, so each thread computes as a one-thread pass does).
/// Each thread first calls prepare(slot), one thread at a time and on its own
/// thread (oneDNN 2.6 ties a primitive's scratchpad to the thread that made
/// it: ops a slot runs must be made there), then body(slot, c) for the chunks
/// c in [0, chunks) it takes: dynamically, so on a shared machine a thread
/// that gets less CPU takes fewer. The first exception a call throws is
/// rethrown after the region; after a failed prepare no chunk runs.
template <class Prepare, class Body>
void run_chunk_slots(int slots, int64_t chunks, Prepare&& prepare, Body&& body) {
  std::exception_ptr failed;
#pragma omp parallel num_threads(slots)
  {
#if defined(_OPENMP)
    omp_set_num_threads(1);
    const int slot = omp_get_thread_num();
#else
    const int slot = 0;
#endif
#pragma omp critical(hpcnn_chunk_slots_prepare)
    try {
      prepare(slot);
    } catch (...) {
      if (!failed) failed = std::current_exception();
    }
#pragma omp barrier
    if (!failed) {  // the same on every thread: all prepares ended at the barrier
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < chunks; ++c) {
        try {
          body(slot, c);
        } catch (...) {
#pragma omp critical(hpcnn_chunk_slots_body)
          if (!failed) failed = std::current_exception();
        }
      }
    }
  }
  if (failed) std::rethrow_exception(failed);
}

}  // namespace hpcnn
