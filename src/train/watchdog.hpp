// The collective watchdog: no training job hangs forever.
//
// The training thread marks each phase it enters (mark()). A watchdog thread
// per rank writes a heartbeat file every interval and checks that the
// training thread made progress within the timeout. When it did not, the
// watchdog reads every rank's heartbeat to name who stalled, prints one line
// and ends the process with kWatchdogExitCode; the launcher (mpirun, srun
// --kill-on-bad-exit) then takes the rest of the job down.
//
// RUN_DIR/heartbeat/rank-NNNNN: one line, rewritten in place each interval:
//   pid host epoch step phase progress_unix alive_unix
// progress_unix: when the rank entered its current phase; alive_unix: when
// its watchdog last wrote (a stopped or dead process stops writing). Times
// are wall-clock seconds, so ranks on several nodes need synchronised clocks
// (NTP) for the "not responding" verdict; the timeout itself is local.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hpcnn::train {

/// Exit status of a process the watchdog ended.
inline constexpr int kWatchdogExitCode = 3;
/// --timeout's default, seconds (PyTorch's NCCL collective timeout is also 10 minutes).
inline constexpr double kDefaultTimeoutSeconds = 600.0;

/// Where a rank is; kinds waiting on other ranks are the collective ones.
enum class RunPhase { kSetup, kData, kCompute, kCollective, kOptimizer, kEvaluate, kCheckpoint, kFinish };
const char* run_phase_name(RunPhase phase);
bool run_phase_waits_on_others(RunPhase phase);

/// One rank's heartbeat as read back from its file.
struct Heartbeat {
  int rank = -1;
  long pid = 0;
  std::string host;
  int64_t epoch = 0, step = 0;
  std::string phase;
  double progress_unix = 0, alive_unix = 0;
};
/// Parses a heartbeat line; false when malformed.
bool parse_heartbeat(const std::string& line, Heartbeat& out);

/// Given this rank's view and every rank's heartbeat, the one-line diagnosis.
/// `now_unix`: the current wall time; `silent_after_s`: a heartbeat older than
/// this means the rank is not responding (stopped, dead or unreachable).
std::string diagnose_stall(int my_rank, const std::vector<Heartbeat>& beats, int world, double now_unix,
                           double timeout_s, double silent_after_s);

class Watchdog {
 public:
  /// `timeout_s` <= 0 disables the check (heartbeats are still written).
  /// `heartbeat_dir` may be empty (no files: the diagnosis names this rank only).
  /// `on_stall` runs on the watchdog thread, with the message, just before the exit.
  Watchdog(double timeout_s, int rank, int world, std::filesystem::path heartbeat_dir,
           std::function<void(const std::string&)> on_stall = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// The training thread enters `phase` at (epoch, step). Lock-free.
  void mark(RunPhase phase, int64_t epoch = 0, int64_t step = 0);
  double interval_seconds() const { return interval_s_; }

 private:
  void loop();
  void write_heartbeat(double now_unix);
  std::vector<Heartbeat> read_heartbeats() const;

  const double timeout_s_;
  const double interval_s_;
  const int rank_, world_;
  const std::filesystem::path dir_;
  std::function<void(const std::string&)> on_stall_;
  std::string host_;
  int fd_ = -1;
  std::atomic<int> phase_{0};
  std::atomic<int64_t> epoch_{0}, step_{0};
  std::atomic<double> progress_unix_{0};
  std::atomic<int64_t> progress_steady_ns_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hpcnn::train
