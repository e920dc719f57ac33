// The run directory's life: one live run at a time, its state in run.json,
// and what a new `hpcnn train` into an existing directory does.
//
// RUN_DIR/.lock is held (flock) by rank 0 for the whole run, so a second run
// into the same directory stops at once instead of mixing its files in; the
// kernel drops the lock when the process dies, however it dies. run.json's
// "status" says how the run stands:
//
//   running    rank 0 is training (or died: then nobody holds the lock)
//   complete   every epoch (or --max-steps) done, test evaluated, files final
//   preempted  stopped on SIGUSR1/SIGTERM after writing a checkpoint
//   failed     stopped by an error or the watchdog ("status_detail" says why)
//
// A new run into a directory:
//   - empty or absent                    -> starts afresh
//   - unfinished (running with no lock holder, preempted, failed)
//                                        -> resumes from its newest valid
//                                           checkpoint (afresh when it has none;
//                                           refused when all it has are invalid,
//                                           unless --restart-from-scratch)
//   - complete                           -> refused, unless --resume (continue
//                                           with more --epochs) or --force
//   - anything hpcnn did not write       -> refused, even with --force
// --force removes only hpcnn's own files (run.json, metrics.json, model.h5,
// checkpoints/, checkpoints-refused/, timing/, trace/, heartbeat/, merged/ and
// temporaries). A directory holding anything else is refused before the lock
// file is written into it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hpcnn::train {

enum class RunStatus { kRunning, kComplete, kPreempted, kFailed };
const char* run_status_name(RunStatus status);

/// What a new run does with the directory it was given.
struct RunDecision {
  bool resume = false;                                        ///< continue from `checkpoint`
  std::filesystem::path checkpoint;                           ///< the newest loadable resumable checkpoint
  int64_t checkpoint_step = 0;                                ///< its global step
  std::string previous_status;                                ///< run.json's status before this run ("" when none)
  int previous_world_size = 0;                                ///< run.json's world_size before this run (0 when none)
  nlohmann::json previous_resumes = nlohmann::json::array();  ///< run.json's "resumes" (carried on when resuming)
  std::string note;                                           ///< one line for the log
};

/// Where the periodic checkpoints go: RUN_DIR/checkpoints/step-NNNNNNNNN.h5.
std::filesystem::path periodic_checkpoint_path(const std::filesystem::path& run_dir, int64_t global_step);

/// The resumable checkpoints among `candidates` and RUN_DIR/checkpoints/,
/// newest (highest global step) first; unreadable ones are skipped, and
/// `skipped` (when given) receives "FILE (why)" for each, `skipped_paths` its path.
/// A checkpoint failing load_checkpoint's checks (checksums, finite values) is skipped.
std::vector<std::pair<int64_t, std::filesystem::path>> resumable_checkpoints(
    const std::filesystem::path& run_dir, const std::vector<std::filesystem::path>& candidates,
    std::vector<std::string>* skipped = nullptr, std::vector<std::filesystem::path>* skipped_paths = nullptr);

/// Removes all but the newest `keep` periodic checkpoints.
void prune_checkpoints(const std::filesystem::path& run_dir, int keep);

/// Held by rank 0 for the whole run.
class RunDirectory {
 public:
  /// Creates the directory and takes its lock; throws naming the holder when
  /// another live process has it. A directory that exists and holds files
  /// hpcnn did not write (`final_checkpoint` counts as hpcnn's) is refused
  /// first, before anything (the lock file included) is written into it.
  explicit RunDirectory(std::filesystem::path dir, const std::filesystem::path& final_checkpoint = {});
  /// The constructor's refusals that need no lock: `dir` is absent, or a
  /// directory holding nothing hpcnn did not write. Reads only (pre-flight
  /// calls it before anything is written).
  static void check_usable(const std::filesystem::path& dir, const std::filesystem::path& final_checkpoint = {});
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  /// Decides from what the directory holds (see the top of this file) and
  /// clears it when starting afresh. `final_checkpoint` is where the run's
  /// model.h5 goes (a resume candidate too). Throws with the reason when the
  /// directory must not be used. When every checkpoint found is invalid the
  /// run stops naming them, unless `restart_from_scratch`: then they move
  /// into RUN_DIR/checkpoints-refused/ and the run starts from step 0.
  RunDecision prepare(bool resume_requested, bool force, const std::filesystem::path& final_checkpoint,
                      bool restart_from_scratch = false);

  /// Writes run.json (`manifest` plus the status fields), atomically.
  void write_manifest(nlohmann::json manifest, RunStatus status, const std::string& detail = "");
  /// Rewrites run.json's status fields. Safe to call from the watchdog thread.
  void set_status(RunStatus status, const std::string& detail = "");

 private:
  /// Sets the status fields and rewrites run.json (mutex_ held).
  void stamp_locked(RunStatus status, const std::string& detail);
  std::filesystem::path dir_;
  int lock_fd_ = -1;
  std::mutex mutex_;
  nlohmann::json manifest_ = nlohmann::json::object();
};

/// Removes NAME.tmp.PID files in `dir` and dir/checkpoints/: leftovers of
/// killed writers (call it holding the lock: no live writer can own them).
/// Returns how many were removed.
int remove_temporaries(const std::filesystem::path& dir);

}  // namespace hpcnn::train
