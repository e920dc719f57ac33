// What the simulation build needs from src/core/check.cpp without its HDF5
// half: the MPI error text behind MPI_CHECK.
#include <chrono>
#include <thread>

#include "core/check.hpp"
#include "sim_support.hpp"

namespace hpcnn::detail {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace hpcnn::detail

// A failed MPI_Testany in detail::exchange's spin costs 1 us of simulated
// time, here rather than by SMPI's smpi/test setting, which run.sh sets to 0:
// SimGrid 3.32's MPI_Testany sleeps smpi/test times a counter that every
// failed test of any rank raises (one static for the whole simulation; only
// a success resets it), so with hundreds of ranks polling, one test cost tens
// of microseconds and every hop of a ring was found late: a 4-byte ring on 64
// simulated fat-tree nodes took 31 us a hop, 2.7 us with MPI_Waitany
// (results/sim/pacing.txt). smpi/grow-injected-times:no does not reach it.
namespace {
bool block_waits = true;  // one per simulated rank (SMPI privatizes globals); each parses the same --pacing
}  // namespace

namespace hpcnn::comm::detail {
void spin_pause() { std::this_thread::sleep_for(std::chrono::microseconds(1)); }

// Under SMPI a wait that tests and sleeps is several simcalls, each a switch
// to SimGrid's maestro and back, where MPI_Waitany is one; the simulated
// ranks share no core with compute threads, which is what the sleeps are for.
// A ring of 17.4 MB on 256 fat-tree ranks: 54.4 s of CPU polled, 14.0 s
// blocking (same run, load 6-10 on 2 cores).
bool block_remote_waits() { return block_waits; }
}  // namespace hpcnn::comm::detail

namespace hpcnn::sim {
void set_block_remote_waits(bool block) { block_waits = block; }
}  // namespace hpcnn::sim

// std::chrono::steady_clock, read in simulated time. detail::exchange
// (src/comm/mpi/exchange.cpp) spins, then sleeps in proportion to how long
// the wait has lasted on this clock; on the real clock, with hundreds of
// simulated ranks taking turns on one core, every wait looked long (before
// the back-off, a 4 KiB ring on 128 ranks: 77 us per step). hpcnn-sim is
// linked with -Bsymbolic-functions so its own calls bind to this definition.
namespace std::chrono {
inline namespace _V2 {
steady_clock::time_point steady_clock::now() noexcept {
  return time_point(duration(static_cast<rep>(MPI_Wtime() * 1e9)));
}
}  // namespace _V2
}  // namespace std::chrono
