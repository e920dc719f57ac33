// Checked calls into C libraries: one generic macro, one alias per library.
//
// HPCNN_CHECK_CALL stringifies the failing call and reports it with file:line
// and rank through hpcnn::Error. Library-specific macros only say how to tell
// success and how to describe a failure. CUDA/cuDNN/cuBLAS/NCCL checks belong
// with the CUDA code (kernels/cuda/cuda_check.hpp and its users), so host
// code never includes CUDA headers.
#pragma once

#include <mpi.h>

#include <string>

#include "core/error.hpp"

namespace hpcnn::detail {
std::string mpi_error_string(int code);
std::string h5_error_string();
}  // namespace hpcnn::detail

/// Evaluates `call` once into `status`; throws unless `ok` holds, with `describe` appended.
#define HPCNN_CHECK_CALL(call, status_type, ok, describe) \
  do {                                                    \
    status_type status = (call);                          \
    if (!(ok)) {                                          \
      HPCNN_THROW(#call, " failed: ", describe);          \
    }                                                     \
  } while (0)

#define MPI_CHECK(call) HPCNN_CHECK_CALL(call, int, status == MPI_SUCCESS, ::hpcnn::detail::mpi_error_string(status))

/// HDF5 calls return a negative herr_t or hid_t on failure.
#define H5_CHECK(call) HPCNN_CHECK_CALL(call, long long, status >= 0, ::hpcnn::detail::h5_error_string())
