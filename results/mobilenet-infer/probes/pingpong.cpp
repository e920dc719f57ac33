// What moving one cache line between the two threads costs (b1-bimodal.md):
// two threads hand a counter back and forth through one 64-byte line
// (release/acquire), 2000 round trips per batch, 50 batches; prints the
// median and minimum ns per round trip (two line transfers), per round with
// the time of day. On a VM this depends on where the host runs the two vCPUs
// (same core complex: tens of ns a transfer; across dies: 100+ ns).
// g++ -O2 -fopenmp pingpong.cpp -o pingpong && ./pingpong [rounds]
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 1, batches = 50, trips = 2000;
  struct alignas(64) Line {
    std::atomic<long> v{0};
  };
  for (int r = 0; r < rounds; ++r) {
    Line line;
    std::vector<double> ns(batches);
#pragma omp parallel num_threads(2)
    {
      const int me = omp_get_thread_num();
      for (int b = 0; b < batches; ++b) {
#pragma omp barrier
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < trips; ++i) {
          const long want =
              2 * (static_cast<long>(b) * trips + i) + me;  // thread 0 moves even -> odd, thread 1 odd -> even
          // A partner descheduled by other load: yield rather than spin out its time slice.
          for (int spins = 0; line.v.load(std::memory_order_acquire) != want;)
            if (++spins > 20000) sched_yield(), spins = 0;
          line.v.store(want + 1, std::memory_order_release);
        }
        if (me == 0)
          ns[b] = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / trips;
      }
    }
    std::sort(ns.begin(), ns.end());
    const std::time_t t = std::time(nullptr);
    char when[16];
    std::strftime(when, sizeof when, "%H:%M:%S", std::gmtime(&t));
    std::printf("%s pingpong ns/round trip: median %.0f min %.0f\n", when, ns[batches / 2], ns[0]);
  }
  return 0;
}
