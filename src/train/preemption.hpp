// Preemption: SIGUSR1 / SIGTERM ask the run to stop cleanly.
//
// The handler only sets a flag. The trainer reads it after every step; the
// ranks agree (one sum in the step's loss exchange) on the step to stop
// after, rank 0 writes a resumable checkpoint, run.json says "preempted" and
// `hpcnn train` exits with kPreemptedExitCode. Slurm's jobs ask for the
// signal before the time limit (--signal) and requeue themselves on that
// status; a requeued job resumes from the checkpoint.
#pragma once

namespace hpcnn::train {

/// Exit status of `hpcnn train` after a clean stop on a signal (EX_TEMPFAIL:
/// "try again later").
inline constexpr int kPreemptedExitCode = 75;

/// Installs the handlers for SIGUSR1 and SIGTERM for its lifetime (restoring
/// the previous ones after). A second signal while the first is pending
/// ends the process at once, as the default action would.
class PreemptionSignals {
 public:
  PreemptionSignals();
  ~PreemptionSignals();
  PreemptionSignals(const PreemptionSignals&) = delete;
  PreemptionSignals& operator=(const PreemptionSignals&) = delete;
};

/// The signal received (0 when none) since the handlers were installed.
int preemption_signal();
/// Forgets a received signal (tests).
void clear_preemption_signal();

}  // namespace hpcnn::train
