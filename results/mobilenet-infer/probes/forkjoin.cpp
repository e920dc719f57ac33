// What an OpenMP fork and join, and a barrier inside one region, cost here
// (libgomp, the engine's runtime): medians of 20000 runs, microseconds.
// g++ -O2 -fopenmp forkjoin.cpp -o forkjoin && OMP_NUM_THREADS=2 ./forkjoin
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

int main() {
  const int runs = 20000;
  std::vector<double> fork(runs), barrier(runs);
  volatile int sink = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    { sink = omp_get_thread_num(); }
    fork[r] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
#pragma omp parallel
  {
    for (int r = 0; r < runs; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
#pragma omp barrier
      if (omp_get_thread_num() == 0)
        barrier[r] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  for (auto* v : {&fork, &barrier}) std::sort(v->begin(), v->end());
  std::printf(
      "threads %d: fork+join median %.2f us (p10 %.2f, p90 %.2f); barrier median %.2f us (p10 %.2f, p90 %.2f)\n",
      omp_get_max_threads(), fork[runs / 2], fork[runs / 10], fork[runs * 9 / 10], barrier[runs / 2],
      barrier[runs / 10], barrier[runs * 9 / 10]);
  return sink < 0;
}
