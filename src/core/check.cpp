// Error strings for the checked-call macros.
#include "core/check.hpp"

#include <hdf5.h>

namespace hpcnn::detail {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return "MPI error " + std::to_string(code);
  }
  return std::string(text, static_cast<size_t>(length));
}

namespace {
herr_t innermost_message(unsigned n, const H5E_error2_t* err, void* out) {
  // The walk goes from the innermost error outward; keep the innermost one.
  if (n == 0 && err != nullptr && err->desc != nullptr) {
    *static_cast<std::string*>(out) = err->desc;
  }
  return 0;
}
}  // namespace

std::string h5_error_string() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_message, &message);
  H5Eclear2(H5E_DEFAULT);
  if (message.empty()) return "HDF5 error";
  // The file driver's messages span lines and list buffers and offsets; the
  // system's own words are what a user needs ("No space left on device").
  const std::string tag = "error message = '";
  const size_t at = message.find(tag);
  if (at != std::string::npos) {
    const size_t end = message.find('\'', at + tag.size());
    if (end != std::string::npos) return message.substr(at + tag.size(), end - at - tag.size());
  }
  for (char& ch : message) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return message.size() > 240 ? message.substr(0, 240) + "..." : message;
}

}  // namespace hpcnn::detail
