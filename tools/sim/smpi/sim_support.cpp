// What the simulation build needs from src/core/check.cpp without its HDF5
// half: the MPI error text behind MPI_CHECK.
#include "core/check.hpp"

namespace hpcnn::detail {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace hpcnn::detail
