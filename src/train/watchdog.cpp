// The collective watchdog (see watchdog.hpp).
#include "train/watchdog.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "timing/timing.hpp"

namespace fs = std::filesystem;

namespace hpcnn::train {

namespace {
constexpr RunPhase kPhases[] = {RunPhase::kSetup,     RunPhase::kData,     RunPhase::kCompute,    RunPhase::kCollective,
                                RunPhase::kOptimizer, RunPhase::kEvaluate, RunPhase::kCheckpoint, RunPhase::kFinish};
constexpr size_t kRecordBytes = 192;  ///< a heartbeat line, space-padded: rewritten in place

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::string seconds_text(double s) { return cat(static_cast<int64_t>(std::llround(std::max(s, 0.0))), " s"); }
std::string where(const Heartbeat& b) {
  return b.epoch > 0 ? cat(" at epoch ", b.epoch, " step ", b.step) : std::string();
}
}  // namespace

const char* run_phase_name(RunPhase phase) {
  switch (phase) {
    case RunPhase::kSetup: return "setup";
    case RunPhase::kData: return "data";
    case RunPhase::kCompute: return "forward/backward";
    case RunPhase::kCollective: return "allreduce";
    case RunPhase::kOptimizer: return "optimizer";
    case RunPhase::kEvaluate: return "evaluate";
    case RunPhase::kCheckpoint: return "checkpoint";
    case RunPhase::kFinish: return "finish";
  }
  return "unknown";
}

bool run_phase_waits_on_others(RunPhase phase) {
  // Setup and evaluation also end in collectives (agreement, broadcast, sums).
  return phase == RunPhase::kCollective || phase == RunPhase::kSetup || phase == RunPhase::kEvaluate ||
         phase == RunPhase::kFinish;
}

namespace {
bool phase_text_waits(const std::string& name) {
  for (RunPhase p : kPhases) {
    if (name == run_phase_name(p)) return run_phase_waits_on_others(p);
  }
  return false;
}
}  // namespace

bool parse_heartbeat(const std::string& line, Heartbeat& out) {
  std::istringstream is(line);
  Heartbeat b;
  if (!(is >> b.pid >> b.host >> b.epoch >> b.step >> b.phase >> b.progress_unix >> b.alive_unix)) return false;
  if (!std::isfinite(b.progress_unix) || !std::isfinite(b.alive_unix)) return false;
  out = b;
  out.rank = -1;
  return true;
}

std::string diagnose_stall(int my_rank, const std::vector<Heartbeat>& beats, int world, double now_unix,
                           double timeout_s, double silent_after_s) {
  const Heartbeat* mine = nullptr;
  for (const Heartbeat& b : beats) {
    if (b.rank == my_rank) mine = &b;
  }
  std::string head = cat("watchdog: rank ", my_rank, " made no progress for ", seconds_text(timeout_s));
  if (mine != nullptr) head += cat(" (in ", mine->phase, where(*mine), ")");
  std::vector<std::string> culprits;
  std::vector<bool> seen(static_cast<size_t>(std::max(world, 0)), false);
  int waiting = 0;
  for (const Heartbeat& b : beats) {
    if (b.rank < 0 || b.rank >= world) continue;
    seen[static_cast<size_t>(b.rank)] = true;
    if (b.rank == my_rank) continue;
    const std::string who = cat("rank ", b.rank, " (pid ", b.pid, " on ", b.host, ")");
    if (now_unix - b.alive_unix > silent_after_s) {
      culprits.push_back(cat(who, " not responding for ", seconds_text(now_unix - b.alive_unix), ", last seen in ",
                             b.phase, where(b)));
    } else if (!phase_text_waits(b.phase) && now_unix - b.progress_unix > timeout_s) {
      culprits.push_back(cat(who, " stuck in ", b.phase, where(b), " for ", seconds_text(now_unix - b.progress_unix)));
    } else {
      ++waiting;
    }
  }
  int missing = 0;
  for (int r = 0; r < world; ++r) {
    if (!seen[static_cast<size_t>(r)] && r != my_rank) ++missing;
  }
  if (missing > 0 && missing <= 4) {
    for (int r = 0; r < world; ++r) {
      if (!seen[static_cast<size_t>(r)] && r != my_rank) culprits.push_back(cat("rank ", r, " left no heartbeat"));
    }
  } else if (missing > 4) {
    culprits.push_back(cat(missing, " ranks left no heartbeat"));
  }
  // This rank outside a collective blames itself only when no other rank is
  // stuck or silent: a rank whose step waits on another one (a GPU stream
  // behind a collective, a bucket handed to the reducer) stalls in its own
  // phase too, and used to print that it itself was stuck beside the rank
  // that was.
  if (culprits.empty() && mine != nullptr && !phase_text_waits(mine->phase)) {
    culprits.push_back(cat("rank ", my_rank, " itself is stuck in ", mine->phase));
  }
  std::string body;
  if (culprits.empty()) {
    body = world > 1
               ? cat("all ", waiting + 1, " ranks are alive and waiting on each other: the exchange itself stalled")
               : std::string("this rank is stuck");
  } else {
    for (size_t i = 0; i < culprits.size(); ++i) body += (i ? "; " : "") + culprits[i];
  }
  return cat(head, ": ", body, ". Stopping the job (exit ", kWatchdogExitCode,
             "); raise --timeout if steps are legitimately this slow");
}

Watchdog::Watchdog(double timeout_s, int rank, int world, fs::path heartbeat_dir,
                   std::function<void(const std::string&)> on_stall)
    : timeout_s_(timeout_s),
      interval_s_(timeout_s > 0 ? std::clamp(timeout_s / 10.0, 0.2, 2.0) : 2.0),
      rank_(rank),
      world_(world),
      dir_(std::move(heartbeat_dir)),
      on_stall_(std::move(on_stall)) {
  host_ = host_name();
  if (host_.empty()) host_ = "unknown";
  for (char& ch : host_) {
    if (ch == ' ' || ch == '\t' || ch == '\n') ch = '_';
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    const fs::path file = dir_ / timing::rank_file_stem(rank_);
    fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    HPCNN_CHECK(fd_ >= 0, file.string(), ": cannot create the heartbeat file: ", open_error(errno));
  }
  mark(RunPhase::kSetup);
  write_heartbeat(unix_now());
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  mark(RunPhase::kFinish, epoch_.load(), step_.load());
  write_heartbeat(unix_now());
  if (fd_ >= 0) ::close(fd_);
}

void Watchdog::mark(RunPhase phase, int64_t epoch, int64_t step) {
  epoch_.store(epoch, std::memory_order_relaxed);
  step_.store(step, std::memory_order_relaxed);
  phase_.store(static_cast<int>(phase), std::memory_order_relaxed);
  progress_unix_.store(unix_now(), std::memory_order_relaxed);
  progress_steady_ns_.store(steady_ns(), std::memory_order_release);
}

void Watchdog::write_heartbeat(double now_unix) {
  if (fd_ < 0) return;
  char line[kRecordBytes];
  const int n = std::snprintf(line, sizeof line, "%ld %s %lld %lld %s %.3f %.3f", static_cast<long>(getpid()),
                              host_.substr(0, 64).c_str(), static_cast<long long>(epoch_.load()),
                              static_cast<long long>(step_.load()),
                              run_phase_name(static_cast<RunPhase>(phase_.load())), progress_unix_.load(), now_unix);
  if (n <= 0) return;
  const size_t used = std::min(static_cast<size_t>(n), kRecordBytes - 1);
  std::memset(line + used, ' ', kRecordBytes - 1 - used);
  line[kRecordBytes - 1] = '\n';
  // The phase name "forward/backward" has no spaces: one token per field.
  [[maybe_unused]] const ssize_t w = ::pwrite(fd_, line, kRecordBytes, 0);
}

std::vector<Heartbeat> Watchdog::read_heartbeats() const {
  std::vector<Heartbeat> out;
  if (dir_.empty()) return out;
  for (int r = 0; r < world_; ++r) {
    std::ifstream in(dir_ / timing::rank_file_stem(r));
    std::string line;
    Heartbeat b;
    if (in && std::getline(in, line) && parse_heartbeat(line, b)) {
      b.rank = r;
      out.push_back(b);
    }
  }
  return out;
}

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::duration<double>(interval_s_));
    if (stop_) break;
    const double now = unix_now();
    write_heartbeat(now);
    if (timeout_s_ <= 0) continue;
    const double idle = static_cast<double>(steady_ns() - progress_steady_ns_.load(std::memory_order_acquire)) * 1e-9;
    if (idle < timeout_s_) continue;
    std::vector<Heartbeat> beats = read_heartbeats();
    if (dir_.empty()) {
      Heartbeat self;
      self.rank = rank_;
      self.pid = getpid();
      self.host = host_;
      self.epoch = epoch_.load();
      self.step = step_.load();
      self.phase = run_phase_name(static_cast<RunPhase>(phase_.load()));
      self.progress_unix = progress_unix_.load();
      self.alive_unix = now;
      beats.push_back(self);
    }
    const std::string message = diagnose_stall(rank_, beats, world_, now, idle, 4.0 * interval_s_);
    std::fprintf(stderr, "hpcnn: error: %s\n", message.c_str());
    std::fflush(stderr);
    if (on_stall_) {
      try {
        on_stall_(message);
      } catch (...) {
        // Exiting matters more than recording why.
      }
    }
    std::_Exit(kWatchdogExitCode);
  }
}

}  // namespace hpcnn::train
