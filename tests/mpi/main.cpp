// Catch2 main for tests run under mpirun: every rank runs every test; the
// process exits non-zero if any rank failed, so ctest sees one verdict.
#define CATCH_CONFIG_RUNNER
#include <mpi.h>

#include <catch2/catch.hpp>

#include "comm/gradient_reducer.hpp"

int main(int argc, char** argv) {
  int provided = 0;  // the level the gradient reducer's communication thread needs
  MPI_Init_thread(&argc, &argv, hpcnn::comm::reducer_thread_level(), &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  Catch::Session session;
  // Only rank 0 reports successes; every rank reports its failures.
  if (session.applyCommandLine(argc, argv) != 0) {
    MPI_Finalize();
    return 2;
  }
  const int local_failures = session.run();
  int failures = 0;
  MPI_Allreduce(&local_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}
