// Catch2 main for the sequential unit tests. SIGUSR1 and SIGTERM are
// blocked first, as `hpcnn train`'s main() does, before any test starts a
// thread (OpenMP, the server, the watchdog): the preemption tests send them
// to the process, and a thread that had them unblocked would take the
// default action and end the whole run (train/preemption.hpp).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "train/preemption.hpp"

int main(int argc, char** argv) {
  hpcnn::train::block_preemption_signals();
  return Catch::Session().run(argc, argv);
}
