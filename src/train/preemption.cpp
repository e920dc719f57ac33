// Preemption signal handling (see preemption.hpp).
#include "train/preemption.hpp"

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <string>
#include <thread>

namespace hpcnn::train {

namespace {
std::atomic<int> g_signal{0};
std::atomic<bool> g_stopping{false};
std::thread g_waiter;
sigset_t g_mask_before;  ///< the constructing thread's mask before the waiter

sigset_t preemption_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  return set;
}

void wait_for_signals() {
  const sigset_t set = preemption_set();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (g_stopping.load()) return;  // the destructor's wake-up
    int none = 0;
    if (g_signal.compare_exchange_strong(none, sig)) continue;
    // Asked twice: stop now, as the default action would.
    std::signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    std::raise(sig);
  }
}
}  // namespace

void block_preemption_signals() {
  const sigset_t set = preemption_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

PreemptionSignals::PreemptionSignals() {
  pthread_sigmask(SIG_BLOCK, nullptr, &g_mask_before);
  block_preemption_signals();  // where main() did not (tests): this thread and its later ones
  g_signal = 0;
  g_stopping = false;
  g_waiter = std::thread(wait_for_signals);
}

PreemptionSignals::~PreemptionSignals() {
  g_stopping = true;
  pthread_kill(g_waiter.native_handle(), SIGUSR1);  // wakes the sigwait
  g_waiter.join();
  // The mask as it was: under `hpcnn train` (blocked since main) a signal
  // after the run is left pending and the process exits with the run's own
  // status; elsewhere (tests) the default actions apply again.
  pthread_sigmask(SIG_SETMASK, &g_mask_before, nullptr);
}

int preemption_signal() { return g_signal.load(); }
void clear_preemption_signal() { g_signal = 0; }

std::string signal_name(int sig) {
  if (sig == SIGUSR1) return "SIGUSR1";
  if (sig == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(sig);
}

namespace {
constexpr double kUsr1Vote = 1 << 20;
}

double stop_vote(int sig) {
  if (sig == 0) return 0.0;
  return sig == SIGUSR1 ? kUsr1Vote : 1.0;
}

int stop_signal_from_votes(double votes) {
  if (votes >= kUsr1Vote) return SIGUSR1;
  return votes > 0 ? SIGTERM : 0;
}

}  // namespace hpcnn::train
