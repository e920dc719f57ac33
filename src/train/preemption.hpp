// Preemption: SIGUSR1 / SIGTERM ask the run to stop cleanly.
//
// No signal handler runs. `hpcnn train` blocks both signals in main(), before
// MPI, OpenMP or any other thread exists (block_preemption_signals), so every
// thread inherits the block; PreemptionSignals then takes them in one thread
// of its own with sigwait and sets a flag. A handler used to run on whatever
// thread the kernel picked, and 5-25 % of signalled runs died with a corrupt
// heap (exit 134/139, "corrupted size vs. prev_size", SIGSEGV in
// dnnl_memory_destroy): a handler's frame pushed onto a oneDNN JIT thread
// that uses the stack pointer's neighbourhood as scratch. `serve` takes its
// signals the same way.
//
// The trainer reads the flag after every step; the ranks agree (one sum in
// the step's loss exchange) on the step to stop after, rank 0 writes a
// resumable checkpoint, run.json says "preempted" and `hpcnn train` exits
// with kPreemptedExitCode. Slurm's jobs ask for the signal before the time
// limit (--signal) and requeue themselves on that status; a requeued job
// resumes from the checkpoint.
#pragma once

#include <string>

namespace hpcnn::train {

/// Exit status of `hpcnn train` after a clean stop on a signal (EX_TEMPFAIL:
/// "try again later").
inline constexpr int kPreemptedExitCode = 75;

/// Blocks SIGUSR1 and SIGTERM in the calling thread and so in every thread
/// it starts later. Call first thing in main(), before MPI_Init.
void block_preemption_signals();

/// For its lifetime, one thread takes SIGUSR1 and SIGTERM (sigwait) and
/// records the first; a second signal while the first is pending ends the
/// process at once, as the default action would. On destruction the thread
/// ends and the calling thread's signal mask is restored: under `hpcnn
/// train`, whose main() blocked the signals, a signal after the run stays
/// pending and the process exits with the run's status.
/// Signals must be process-directed (kill, not raise) to reach it.
class PreemptionSignals {
 public:
  PreemptionSignals();
  ~PreemptionSignals();
  PreemptionSignals(const PreemptionSignals&) = delete;
  PreemptionSignals& operator=(const PreemptionSignals&) = delete;
};

/// The signal received (0 when none) since the waiter was started.
int preemption_signal();
/// Forgets a received signal (tests).
void clear_preemption_signal();

/// How messages name a signal: "SIGUSR1", "SIGTERM", else "signal N".
std::string signal_name(int sig);

/// The stop vote a rank adds to the step's exchange for the signal it
/// received (0: none). The sum over ranks still says which signal it was:
/// SIGUSR1 counts 2^20 (so up to 2^20 - 1 SIGTERM votes stay below it), any
/// other 1. A rank that was not signalled itself used to report SIGTERM
/// ("signal 15") for a job stopped with SIGUSR1.
double stop_vote(int sig);
/// The signal the job stops on from the summed votes (0: no stop); SIGUSR1
/// when any rank got it, else SIGTERM.
int stop_signal_from_votes(double votes);

}  // namespace hpcnn::train
