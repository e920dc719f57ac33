// Error construction and rank discovery.
#include "core/error.hpp"

#include <unistd.h>

#include <mpi.h>

#include <cstdlib>
#include <filesystem>

namespace hpcnn {

int process_rank() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
  }
  // Not (yet) an MPI program: trust the launcher's environment.
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(var)) {
      return std::atoi(value);
    }
  }
  return -1;
}

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

namespace {
std::string with_location(const std::string& message, const char* file, int line, int rank) {
  std::string where = std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
  if (rank >= 0) {
    where = "rank " + std::to_string(rank) + ", " + where;
  }
  return message + " [" + where + "]";
}
}  // namespace

Error::Error(const std::string& message, const char* file, int line)
    : std::runtime_error(with_location(message, file, line, process_rank())),
      message_(message),
      file_(file),
      line_(line),
      rank_(process_rank()) {}

}  // namespace hpcnn
