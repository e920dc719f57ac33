// What the simulation build needs from src/core/check.cpp without its HDF5
// half: the MPI error text behind MPI_CHECK.
#include <chrono>

#include "core/check.hpp"

namespace hpcnn::detail {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace hpcnn::detail

// std::chrono::steady_clock, read in simulated time. detail::exchange
// (src/comm/mpi/exchange.cpp) decides between spinning and sleeping from how
// long its recent waits lasted on this clock; on the real clock, with
// hundreds of simulated ranks taking turns on one core, every wait looked
// long, so every wait slept 50 us of simulated time even on a 100 Gbit/s
// fat-tree (a 4 KiB ring on 128 ranks: 77 us per step). On the simulated
// clock the heuristic sees the waits a real cluster would. hpcnn-sim is
// linked with -Bsymbolic-functions so its own calls bind to this definition.
namespace std::chrono {
inline namespace _V2 {
steady_clock::time_point steady_clock::now() noexcept {
  return time_point(duration(static_cast<rep>(MPI_Wtime() * 1e9)));
}
}  // namespace _V2
}  // namespace std::chrono
