// The full-duplex chunked exchange behind ring and rhd (see common.hpp for
// why sends are windowed): receives are all posted up front, sends are
// topped up as the oldest completes, and each received chunk is handed to the
// caller in order while the rest are still travelling.
#include <chrono>
#include <thread>
#include <vector>

#include "comm/mpi/common.hpp"

namespace hpcnn::comm::detail {

namespace {
int chunks_of(int64_t count, int64_t chunk) { return static_cast<int>((count + chunk - 1) / chunk); }
}  // namespace

namespace {
/// The exchange for elements of any MPI type `T`.
template <typename T>
void exchange_of(const T* send, int64_t send_count, int to, T* recv, int64_t recv_count, int from, MPI_Comm comm,
                 MPI_Datatype type, Pacing pace, const ChunkFn& on_chunk) {
  const int64_t chunk = pace.chunk;
  auto chunk_len = [chunk](int64_t count, int k) {
    return static_cast<int>(std::min(chunk, count - int64_t{k} * chunk));
  };
  const int n_recv = chunks_of(recv_count, chunk), n_send = chunks_of(send_count, chunk);
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
  // nodes) MPI_Testany with a short sleep between tries, so a communication
  // thread waiting on the network leaves the core to the compute threads.
  auto wait_any = [&pace](MPI_Request* pending, int* which) {
    if (pace.poll_sleep_us <= 0) {
      MPI_CHECK(MPI_Waitany(2, pending, which, MPI_STATUS_IGNORE));
      return;
    }
    // On a fast link a chunk lands within microseconds: spin. On a slow one
    // waits are long: sleep between tests from the start. Which one this is
    // comes from the recent waits of this thread (a running average), and a
    // spin that lasts too long falls back to sleeping.
    thread_local double typical_wait_us = 0.0;
    int done = 0;
    const auto start = std::chrono::steady_clock::now();
    const bool spin_first = typical_wait_us < kSpinBeforeSleepUs;
    while (true) {
      MPI_CHECK(MPI_Testany(2, pending, which, &done, MPI_STATUS_IGNORE));
      if (done) break;
      const auto waited = std::chrono::steady_clock::now() - start;
      if (!spin_first || waited > std::chrono::microseconds(kSpinBeforeSleepUs)) {
        std::this_thread::sleep_for(std::chrono::microseconds(pace.poll_sleep_us));
      }
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    typical_wait_us = 0.75 * typical_wait_us + 0.25 * us;
  };
  top_up();
  for (int k = 0; k < n_recv; ++k) {
    // Wait for receive k; whenever the oldest send finishes first, refill the window.
    while (true) {
      MPI_Request pending[2] = {recvs[static_cast<size_t>(k)],
                                sent < posted ? sends[static_cast<size_t>(sent)] : MPI_REQUEST_NULL};
      int which = MPI_UNDEFINED;
      wait_any(pending, &which);
      recvs[static_cast<size_t>(k)] = pending[0];
      if (sent < posted) sends[static_cast<size_t>(sent)] = pending[1];
      if (which == 1) {
        ++sent;
        top_up();
        continue;
      }
      break;  // receive k is complete (which == 0)
    }
    if (on_chunk) on_chunk(int64_t{k} * chunk, chunk_len(recv_count, k));
  }
  while (sent < n_send) {
    MPI_Request pending[2] = {sends[static_cast<size_t>(sent)], MPI_REQUEST_NULL};
    int which = MPI_UNDEFINED;
    wait_any(pending, &which);
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
