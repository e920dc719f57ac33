// hpcnn: the command-line front end. One catch around everything: errors are
// one line on stderr and a non-zero exit (2 for usage errors).
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "train/preemption.hpp"

namespace {
/// After an error: in a multi-rank job, take every rank down now (never leave
/// the others waiting in a collective); otherwise just return the code.
int fail(int code) {
  int initialized = 0, finalized = 0, size = 1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  }
  return code;
}
}  // namespace

int main(int argc, char** argv) {
  // train takes SIGUSR1/SIGTERM in one thread of its own (sigwait): blocked
  // here, before MPI and OpenMP start threads that would inherit no block.
  if (argc > 1 && std::string(argv[1]) == "train") hpcnn::train::block_preemption_signals();
  try {
    return hpcnn::cli::dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const hpcnn::UsageError& e) {
    // Every rank parses the same command line: one copy of the message is enough.
    if (hpcnn::process_rank() <= 0) std::fprintf(stderr, "hpcnn: usage error: %s\n", e.what());
    return fail(2);
  } catch (const hpcnn::Error& e) {
    std::fprintf(stderr, "hpcnn: error: %s\n", e.what());
    return fail(1);
  } catch (const std::bad_alloc&) {
    // Sizes are checked where they are read (model strings, manifests,
    // checkpoints, buffers); this is the last resort, in words.
    std::fprintf(stderr, "hpcnn: error: out of memory (an allocation failed; try a smaller --batch or model)\n");
    return fail(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hpcnn: error: %s\n", e.what());
    return fail(1);
  }
}
