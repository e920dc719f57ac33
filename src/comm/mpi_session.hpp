// MPI for the lifetime of a command: initialised here unless it already was,
// finalised on the way out only if we initialised it. Works without mpirun
// too (Open MPI's singleton mode: a world of one).
#pragma once

#include <mpi.h>

#include <exception>

#include "comm/gradient_reducer.hpp"
#include "core/check.hpp"

namespace hpcnn::comm {

class MpiSession {
 public:
  MpiSession() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // The gradient reducer's communication thread calls MPI while the main
      // thread computes (never both at once); the reducer checks the grant.
      MPI_CHECK(MPI_Init_thread(nullptr, nullptr, reducer_thread_level(), &provided));
      owned_ = true;
    }
  }
  ~MpiSession() {
    if (!owned_) return;
    // Unwinding from an error in a multi-rank job: MPI_Finalize would wait
    // for ranks that may be waiting for us. Leave it to main(), which reports
    // the error and calls MPI_Abort for the whole job.
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (std::uncaught_exceptions() > 0 && size > 1) return;
    MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owned_ = false;
};

}  // namespace hpcnn::comm
