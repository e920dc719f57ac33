// The full-duplex chunked exchange behind ring and rhd (see common.hpp for
// why sends are windowed): receives are all posted up front, sends are
// topped up as the oldest completes, and each received chunk is handed to the
// caller in order while the rest are still travelling.
#include <chrono>
#include <cstdlib>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <thread>
#include <vector>

#include "comm/mpi/common.hpp"

namespace hpcnn::comm::detail {

// Nothing here: a real MPI_Testany itself takes long enough. Weak, so that
// hpcnn-sim (tools/sim/smpi/sim_support.cpp) gives a failed test its cost
// in simulated time, which SMPI's own per-test cost models badly (see there).
__attribute__((weak)) void spin_pause() {}

// No: a real cluster's communication thread must leave the core to compute.
// hpcnn-sim (tools/sim/smpi/sim_support.cpp) says yes unless run with
// `--pacing poll`: under SMPI every MPI_Testany and every sleep is a simcall
// and a switch to SimGrid's maestro and back, so a paced wait costs up to 10
// simulated tests and a few sleeps where MPI_Waitany costs one, and the
// simulated ranks share no core with compute threads anyway.
__attribute__((weak)) bool block_remote_waits() { return false; }

WaitCounters& wait_counters() {
  thread_local WaitCounters counters;
  return counters;
}

// From Open MPI's environment, not through the MPI tool interface: Open MPI
// 4.1's MPI_T_init_thread resets the MPI library's thread level to the one
// it is given (ompi_mpi_thread_level), and on first use registers every
// framework's parameters, both from the communication thread while the
// library is in use; with MPI_THREAD_SINGLE the next reducer refused to
// start ("needs MPI_THREAD_SERIALIZED", tests/mpi at 3 ranks). mpirun passes
// its --mca settings on in this form too; only those in mca-params.conf
// files are missed, and then a wait keeps to the default's 64 KiB.
int64_t tcp_eager_limit() {
  static const int64_t limit = [] {
    const char* set = std::getenv("OMPI_MCA_btl_tcp_eager_limit");
    if (set == nullptr || *set == '\0') return ArrivalEstimate::kDefaultEagerBytes;
    char* end = nullptr;
    const long long bytes = std::strtoll(set, &end, 10);
    // Open MPI also takes suffixes (k, m); those, and nonsense, keep the default.
    return *end == '\0' && bytes > 0 ? static_cast<int64_t>(bytes) : ArrivalEstimate::kDefaultEagerBytes;
  }();
  return limit;
}

double poll_sleep_us(double waited_us, double max_sleep_us) {
  if (waited_us < kSpinBeforeSleepUs) return 0;
  return std::min(max_sleep_us, std::max(kMinPollSleepUs, waited_us / kPollBackoffDivisor));
}

double paced_sleep_us(double waited_us, double left_us, bool slept_untested, double floor_us, double max_us,
                      bool* untested) {
  const double untested_us = 1e-3 * ArrivalEstimate::untested_sleep_ns(1e3 * left_us);
  *untested = untested_us > 0;
  if (*untested) return untested_us;
  if (slept_untested) return std::clamp(std::max(-left_us, 0.0) / kPollBackoffDivisor, floor_us, max_us);
  // No estimate to go by (the first transfers, a fast link, sends waiting
  // for the window to open): the back-off as it was, up to floor_us.
  return poll_sleep_us(waited_us, floor_us);
}

namespace {
int chunks_of(int64_t count, int64_t chunk) { return static_cast<int>((count + chunk - 1) / chunk); }

/// Linux rounds a sleep up by the thread's timer slack (50 us by default):
/// sleep_for(3 us) took 68-71 us here (median of 200, load 16 on 2 cores), so
/// every back-off step would be a 50+ us sleep; with 1 us of slack 19.5 us.
/// Once per thread.
void allow_short_sleeps() {
#ifdef __linux__
  thread_local bool done = false;
  if (!done) {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);  // nanoseconds; a failure leaves the default
    done = true;
  }
#endif
}
}  // namespace

namespace {
/// The exchange for elements of any MPI type `T`.
template <typename T>
void exchange_of(const T* send, int64_t send_count, int to, T* recv, int64_t recv_count, int from, MPI_Comm comm,
                 MPI_Datatype type, Pacing pace, const ChunkFn& on_chunk) {
  // Pieces of the same bytes whatever the element: pace.chunk counts floats.
  // 16-bit messages in pieces of pace.chunk elements (128 KiB) made twice the
  // pieces and waits a float message makes, each wait a dozen wake-ups of
  // the communication thread, whose CPU backward loses on the emulated nodes
  // (results/overlap/bf16/README.md); and under Open MPI's TCP
  // btl_tcp_min_rdma_pipeline_size (192 KiB) a piece is received through a
  // bounce buffer, not into place. (A whole-range chunk stays whole.)
  const int64_t chunk =
      pace.chunk >= (int64_t{1} << 40) ? pace.chunk : pace.chunk * static_cast<int64_t>(sizeof(float) / sizeof(T));
  auto chunk_len = [chunk](int64_t count, int k) {
    return static_cast<int>(std::min(chunk, count - int64_t{k} * chunk));
  };
  const int n_recv = chunks_of(recv_count, chunk), n_send = chunks_of(send_count, chunk);
  // hpcnn-sim only (block_remote_waits(), SMPI): one piece each way is one
  // MPI_Sendrecv, the piece handed over once both are done. Under SMPI every
  // MPI call reads the thread's CPU clock twice (two system calls, to inject
  // the compute between calls) and goes through SimGrid's request layer;
  // Irecv, Isend and two Waitany made that four times a ring step, a ring of
  // 2 MiB on 512 ranks (4 KiB messages, as 17.4 MB on 4,096) spent 12 % of
  // its CPU in those clock reads. docs/simulation.md has the measurement.
  if (n_recv == 1 && n_send == 1 && block_remote_waits()) {
    MPI_CHECK(MPI_Sendrecv(send, static_cast<int>(send_count), type, to, 0, recv, static_cast<int>(recv_count), type,
                           from, 0, comm, MPI_STATUS_IGNORE));
    if (on_chunk) on_chunk(0, recv_count);
    return;
  }
  std::vector<MPI_Request> recvs(static_cast<size_t>(n_recv), MPI_REQUEST_NULL);
  std::vector<MPI_Request> sends(static_cast<size_t>(n_send), MPI_REQUEST_NULL);
  for (int k = 0; k < n_recv; ++k) {
    MPI_CHECK(MPI_Irecv(recv + int64_t{k} * chunk, chunk_len(recv_count, k), type, from, k, comm,
                        &recvs[static_cast<size_t>(k)]));
  }
  int posted = 0, sent = 0;  // sends [sent, posted) are in flight
  auto top_up = [&] {
    for (; posted < n_send && posted - sent < pace.window; ++posted) {
      MPI_CHECK(MPI_Isend(send + int64_t{posted} * chunk, chunk_len(send_count, posted), type, to, posted, comm,
                          &sends[static_cast<size_t>(posted)]));
    }
  };
  // Waits for one of two requests: MPI_Waitany, which spins, or (across
  // nodes) MPI_Testany, spinning briefly and then backing off in sleeps, so a
  // communication thread waiting on the network leaves the core to the
  // compute threads (detail::poll_sleep_us says how long each sleep is).
  const bool block = pace.poll_sleep_us <= 0 || block_remote_waits();
  // Across nodes: this thread's estimate of how soon bytes can arrive
  // (ArrivalEstimate); a wait may sleep until `not_before` untested. Per
  // thread, as the communication thread is one per process (under SMPI the
  // waits block and never read it).
  thread_local ArrivalEstimate arrival;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point posted_at = Clock::now();
  WaitCounters& counted = wait_counters();
  ++counted.exchanges;
  auto wait_any = [&pace, &counted, block](MPI_Request* pending, int* which, Clock::time_point not_before,
                                           double max_sleep_us) {
    if (block) {
      ++counted.blocking_waits;
      MPI_CHECK(MPI_Waitany(2, pending, which, MPI_STATUS_IGNORE));
      return;
    }
    allow_short_sleeps();
    int done = 0;
    bool slept_untested = false;
    const auto start = Clock::now();
    while (true) {
      ++counted.tests;
      if (pending[1] == MPI_REQUEST_NULL) {
        // One request: MPI_Test, which looks again after its pass of
        // progress. Open MPI 4.1's MPI_Testany does not (req_test.c): a piece
        // that landed in that pass was reported only by the next test, after
        // one more sleep (up to max_sleep_us) and one more pass through
        // progress and its sched_yield, for every piece.
        MPI_CHECK(MPI_Test(&pending[0], &done, MPI_STATUS_IGNORE));
        if (done) *which = 0;
      } else {
        MPI_CHECK(MPI_Testany(2, pending, which, &done, MPI_STATUS_IGNORE));
      }
      if (done) break;
      const auto now = Clock::now();
      bool untested = false;
      const double sleep_us = paced_sleep_us(std::chrono::duration<double, std::micro>(now - start).count(),
                                             std::chrono::duration<double, std::micro>(not_before - now).count(),
                                             slept_untested, pace.poll_sleep_us, max_sleep_us, &untested);
      slept_untested |= untested;
      if (sleep_us > 0) {
        ++(untested ? counted.untested_sleeps : counted.backoff_sleeps);
        counted.slept_ns += sleep_us * 1e3;
        std::this_thread::sleep_for(std::chrono::duration<double, std::micro>(sleep_us));
      } else {
        spin_pause();
      }
    }
  };
  top_up();
  Clock::time_point landed_at = posted_at;  // when the last receive was seen complete
  for (int k = 0; k < n_recv; ++k) {
    // Receive k cannot land before the pieces before it and what of its own
    // flows without this rank have crossed (ArrivalEstimate::arrival_ns).
    // While sends wait to be posted, a finished send must be seen at once
    // (it opens the window): then no untested sleep.
    const int64_t piece_bytes = chunk_len(recv_count, k) * static_cast<int64_t>(sizeof(T));
    const Clock::time_point not_before =
        block || posted < n_send
            ? posted_at
            : posted_at + std::chrono::nanoseconds(static_cast<int64_t>(arrival.arrival_ns(
                              int64_t{k} * chunk * static_cast<int64_t>(sizeof(T)), piece_bytes, tcp_eager_limit())));
    const double max_sleep_us = arrival.max_poll_sleep_us(piece_bytes, pace.poll_sleep_us);
    // Wait for receive k; whenever the oldest send finishes first, refill the
    // window. Once every send is posted there is no window to refill and the
    // sends are collected after the last piece: watching one here made each
    // wait two requests, so a wait that saw it finish went round once more.
    while (true) {
      const bool watch_send = sent < posted && posted < n_send;
      MPI_Request pending[2] = {recvs[static_cast<size_t>(k)],
                                watch_send ? sends[static_cast<size_t>(sent)] : MPI_REQUEST_NULL};
      int which = MPI_UNDEFINED;
      wait_any(pending, &which, not_before, max_sleep_us);
      recvs[static_cast<size_t>(k)] = pending[0];
      if (watch_send) sends[static_cast<size_t>(sent)] = pending[1];
      if (which == 1) {
        ++sent;
        top_up();
        continue;
      }
      break;  // receive k is complete (which == 0)
    }
    landed_at = Clock::now();
    ++counted.pieces;
    if (on_chunk) on_chunk(int64_t{k} * chunk, chunk_len(recv_count, k));
  }
  if (!block && n_recv > 0) {
    // From posting to the last piece seen (the on_chunk work left out).
    arrival.observe(std::chrono::duration<double, std::nano>(landed_at - posted_at).count(),
                    recv_count * static_cast<int64_t>(sizeof(T)));
  }
  while (sent < n_send) {
    MPI_Request pending[2] = {sends[static_cast<size_t>(sent)], MPI_REQUEST_NULL};
    int which = MPI_UNDEFINED;
    wait_any(pending, &which, posted_at, pace.poll_sleep_us);
    sends[static_cast<size_t>(sent)] = pending[0];
    ++sent;
    top_up();
  }
}

}  // namespace

void exchange(const float* send, int64_t send_count, int to, float* recv, int64_t recv_count, int from, MPI_Comm comm,
              Pacing pace, const ChunkFn& on_chunk) {
  exchange_of(send, send_count, to, recv, recv_count, from, comm, MPI_FLOAT, pace, on_chunk);
}

void exchange(const uint16_t* send, int64_t send_count, int to, uint16_t* recv, int64_t recv_count, int from,
              MPI_Comm comm, Pacing pace, const ChunkFn& on_chunk) {
  exchange_of(send, send_count, to, recv, recv_count, from, comm, MPI_UINT16_T, pace, on_chunk);
}

}  // namespace hpcnn::comm::detail
