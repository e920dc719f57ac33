// Does work on one vCPU slow the other's? Compute-bound AVX-512 (independent
// FMA chains, in registers) and an L1/L2-resident load-add loop, each timed on
// thread 0 alone (thread 1 asleep in a futex: run with OMP_WAIT_POLICY=passive),
// then on both threads at once; prints per-thread speed at once / alone, in
// thread CPU time (CLOCK_THREAD_CPUTIME_ID: time the guest descheduled the
// thread does not count; best of 5). About 1.0: the two vCPUs run on separate
// host cores; about 0.5-0.7: they share one (SMT siblings on the host) or
// something else of the core. Only meaningful with the guest otherwise idle
// (at load 8 the "alone" run has another process beside it too). Repeated
// `rounds` times with the time of day, to set beside hpcnn's fast and slow
// batch-1 processes (b1-bimodal.md, probes/bimodal.sh).
// g++ -O2 -mavx512f -fopenmp corun.cpp -o corun && OMP_WAIT_POLICY=passive ./corun [rounds]
#include <immintrin.h>
#include <omp.h>

#include <time.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

namespace {
double now() {  // this thread's CPU time, seconds
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// 12 independent FMA chains: the FMA ports' throughput, not latency.
double fma_work(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + 1e-7f * static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (long k = 0; k < iters; ++k)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

// Sum over a buffer of `bytes` (L1: 16 KiB, L2: 512 KiB), 64 bytes a load.
double load_work(const std::vector<float>& buf, long passes) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  const size_t n = buf.size();
  for (long p = 0; p < passes; ++p)
    for (size_t i = 0; i + 64 <= n; i += 64) {
      s0 = _mm512_add_ps(s0, _mm512_loadu_ps(&buf[i]));
      s1 = _mm512_add_ps(s1, _mm512_loadu_ps(&buf[i + 16]));
      s2 = _mm512_add_ps(s2, _mm512_loadu_ps(&buf[i + 32]));
      s3 = _mm512_add_ps(s3, _mm512_loadu_ps(&buf[i + 48]));
    }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  volatile double sink = 0;
  std::vector<float> l1(4096, 1.0f), l2(131072, 1.0f);
  struct Kernel {
    const char* name;
    double (*run)(const std::vector<float>*, long);
    long reps;
    const std::vector<float>* buf;
  };
  const Kernel kernels[] = {
      {"fma", [](const std::vector<float>*, long r) { return fma_work(r); }, 4000000, nullptr},
      {"L1 loads", [](const std::vector<float>* b, long r) { return load_work(*b, r); }, 40000, &l1},
      {"L2 loads", [](const std::vector<float>* b, long r) { return load_work(*b, r); }, 1200, &l2},
  };
  for (int r = 0; r < rounds; ++r) {
    const std::time_t t = std::time(nullptr);
    char when[16];
    std::strftime(when, sizeof when, "%H:%M:%S", std::gmtime(&t));
    std::printf("%s", when);
    for (const Kernel& k : kernels) {
      double alone = 1e30, both[2] = {1e30, 1e30};
      for (int rep = 0; rep < 5; ++rep) {  // best of 5 (a descheduled run is slower, never faster)
        const double t0 = now();
        sink = sink + k.run(k.buf, k.reps);
        alone = std::min(alone, now() - t0);
#pragma omp parallel num_threads(2)
        {
          // Each thread its own copy of the buffer (no sharing).
          std::vector<float> own = k.buf != nullptr ? *k.buf : std::vector<float>();
#pragma omp barrier
          const double t1 = now();
          const double v = k.run(k.buf != nullptr ? &own : nullptr, k.reps);
          const double dt = now() - t1;
#pragma omp critical
          {
            sink = sink + v;
            double& b = both[omp_get_thread_num()];
            b = std::min(b, dt);
          }
        }
      }
      std::printf("  %s: alone %.1f ms, at once %.2f / %.2f of alone", k.name, alone * 1e3, alone / both[0],
                  alone / both[1]);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
