// Preemption signal handling (see preemption.hpp).
#include "train/preemption.hpp"

#include <csignal>
#include <cstring>

namespace hpcnn::train {

namespace {
volatile std::sig_atomic_t g_signal = 0;
struct sigaction g_previous_usr1, g_previous_term;

extern "C" void on_preemption_signal(int sig) {
  if (g_signal != 0) {  // asked twice: stop now, as without the handler
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
}
}  // namespace

PreemptionSignals::PreemptionSignals() {
  g_signal = 0;
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and waits go on; the flag is read between steps
  sigaction(SIGUSR1, &action, &g_previous_usr1);
  sigaction(SIGTERM, &action, &g_previous_term);
}

PreemptionSignals::~PreemptionSignals() {
  sigaction(SIGUSR1, &g_previous_usr1, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

int preemption_signal() { return g_signal; }
void clear_preemption_signal() { g_signal = 0; }

}  // namespace hpcnn::train
