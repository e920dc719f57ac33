// Run directory: lock, status, and what a new run does with what it finds.
#include "train/run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <regex>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "train/checkpoint.hpp"

namespace fs = std::filesystem;

namespace hpcnn::train {

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kComplete: return "complete";
    case RunStatus::kPreempted: return "preempted";
    case RunStatus::kFailed: return "failed";
  }
  return "unknown";
}

fs::path periodic_checkpoint_path(const fs::path& run_dir, int64_t global_step) {
  char name[48];
  std::snprintf(name, sizeof name, "step-%09lld.h5", static_cast<long long>(global_step));
  return run_dir / "checkpoints" / name;
}

namespace {
/// Where --restart-from-scratch keeps the checkpoints it could not use.
const char* const kRefusedDir = "checkpoints-refused";
const std::regex kPeriodicName(R"(step-\d{9,}\.h5)");
const std::regex kTemporaryName(R"(.+\.tmp\.\d+)");

std::vector<fs::path> periodic_checkpoints(const fs::path& run_dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path dir = run_dir / "checkpoints";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, kPeriodicName)) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());  // zero-padded: name order is step order
  return out;
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

/// Sorts the entries of run directory `dir` into hpcnn's own (into `own`,
/// when given) and the rest, whose names it returns. `.lock` is neither.
std::vector<std::string> sort_entries(const fs::path& dir, const fs::path& final_checkpoint,
                                      std::vector<fs::path>* own) {
  static const std::set<std::string> kOwn = {"run.json", "metrics.json", "model.h5", "checkpoints", "timing",
                                             "trace",    "heartbeat",    "merged",   kRefusedDir};
  static const std::regex kOwnPattern(R"(timing-before-resume-\d+|.+\.tmp\.\d+)");
  std::vector<std::string> foreign;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == ".lock") continue;
    const bool is_final = final_checkpoint.parent_path() == dir && final_checkpoint.filename() == name;
    if (kOwn.count(name) != 0 || is_final || std::regex_match(name, kOwnPattern)) {
      if (own != nullptr) own->push_back(entry.path());
    } else {
      foreign.push_back(name);
    }
  }
  return foreign;
}

[[noreturn]] void refuse_foreign(const fs::path& dir, const std::vector<std::string>& foreign) {
  std::string names;
  for (size_t i = 0; i < foreign.size() && i < 3; ++i) names += (i ? ", " : "") + foreign[i];
  if (foreign.size() > 3) names += cat(" and ", foreign.size() - 3, " more");
  HPCNN_THROW(dir.string(), ": holds files hpcnn did not write (", names,
              "): refusing to use it as a run directory (--force removes only hpcnn's own files); choose another "
              "--out");
}
}  // namespace

std::vector<std::pair<int64_t, fs::path>> resumable_checkpoints(const fs::path& run_dir,
                                                                const std::vector<fs::path>& candidates,
                                                                std::vector<std::string>* skipped,
                                                                std::vector<fs::path>* skipped_paths) {
  std::vector<fs::path> paths = periodic_checkpoints(run_dir);
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (!c.empty() && fs::is_regular_file(c, ec)) paths.push_back(c);
  }
  std::vector<std::pair<int64_t, fs::path>> out;
  for (const fs::path& p : paths) {
    try {
      const Checkpoint c = load_checkpoint(p, /*warn_unverified=*/false);
      if (c.state) out.emplace_back(c.state->global_step, p);
    } catch (const std::exception& e) {
      // A damaged or foreign file is not a resume point; an older one may be.
      if (skipped != nullptr) skipped->push_back(cat(p.filename().string(), " (", e.what(), ")"));
      if (skipped_paths != nullptr) skipped_paths->push_back(p);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

void prune_checkpoints(const fs::path& run_dir, int keep) {
  std::vector<fs::path> all = periodic_checkpoints(run_dir);
  const size_t k = static_cast<size_t>(std::max(keep, 1));
  for (size_t i = 0; i + k < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i], ec);
  }
}

int remove_temporaries(const fs::path& dir) {
  int removed = 0;
  for (const fs::path& d : {dir, dir / "checkpoints"}) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    std::vector<fs::path> doomed;
    for (const auto& entry : fs::directory_iterator(d, ec)) {
      if (std::regex_match(entry.path().filename().string(), kTemporaryName)) doomed.push_back(entry.path());
    }
    for (const fs::path& p : doomed) removed += fs::remove_all(p, ec) > 0 ? 1 : 0;
  }
  return removed;
}

void RunDirectory::check_usable(const fs::path& dir, const fs::path& final_checkpoint) {
  std::error_code ec;
  // Decided before anything is written: a refused directory (`--out /`, a
  // user's folder) once got a stray .lock (issue 26.3).
  if (fs::exists(fs::symlink_status(dir, ec))) {
    HPCNN_CHECK(fs::is_directory(dir, ec), dir.string(), ": exists and is not a directory: choose another --out");
    const std::vector<std::string> foreign = sort_entries(dir, final_checkpoint, nullptr);
    if (!foreign.empty()) refuse_foreign(dir, foreign);
  }
}

RunDirectory::RunDirectory(fs::path dir, const fs::path& final_checkpoint) : dir_(std::move(dir)) {
  check_usable(dir_, final_checkpoint);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  HPCNN_CHECK(!ec, dir_.string(), ": cannot create the run directory: ", ec.message());
  const fs::path lock = dir_ / ".lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  HPCNN_CHECK(lock_fd_ >= 0, lock.string(), ": cannot write into the run directory: ", open_error(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[256] = {};
    const ssize_t n = ::pread(lock_fd_, holder, sizeof holder - 1, 0);
    ::close(lock_fd_);
    lock_fd_ = -1;
    std::string who(holder, n > 0 ? static_cast<size_t>(n) : 0);
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    HPCNN_CHECK(err != EWOULDBLOCK, dir_.string(), ": in use by a live run (", who.empty() ? "unknown process" : who,
                "): choose another --out, or wait for that run to end");
    HPCNN_THROW(dir_.string(), ": cannot lock the run directory: ", std::strerror(err));
  }
  const std::string me = cat("pid ", getpid(), " on ", host_name(), "\n");
  if (::ftruncate(lock_fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(lock_fd_, me.data(), me.size(), 0);
  }
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

RunDecision RunDirectory::prepare(bool resume_requested, bool force, const fs::path& final_checkpoint,
                                  bool restart_from_scratch) {
  RunDecision decision;
  // What is here, and is all of it ours?
  std::vector<fs::path> own;
  const std::vector<std::string> foreign = sort_entries(dir_, final_checkpoint, &own);
  if (!foreign.empty()) refuse_foreign(dir_, foreign);
  // How the previous run ended.
  const fs::path manifest = dir_ / "run.json";
  if (fs::exists(manifest)) {
    nlohmann::json previous = nlohmann::json::parse(read_text_file(manifest), nullptr, false);
    if (previous.is_object()) {
      // run.json from before status was recorded: complete when it has metrics.
      decision.previous_status = previous.value("status", fs::exists(dir_ / "metrics.json") ? "complete" : "running");
      if (previous.contains("world_size") && previous["world_size"].is_number_integer()) {
        decision.previous_world_size = previous["world_size"].get<int>();
      }
      if (previous.contains("resumes") && previous["resumes"].is_array())
        decision.previous_resumes = previous["resumes"];
    } else {
      decision.previous_status = "running";  // a damaged run.json: treat the run as unfinished
    }
  }
  HPCNN_CHECK(!resume_requested || !decision.previous_status.empty(), "--resume ", dir_.string(),
              ": no run.json there: not an hpcnn run directory");
  auto clear = [&] {
    for (const fs::path& p : own) fs::remove_all(p);
  };
  if (own.empty()) {
    decision.note = "new run";
    return decision;
  }
  if (force) {
    clear();
    decision.note = cat("--force: replaced the previous run (",
                        decision.previous_status.empty() ? "no status" : decision.previous_status, ")");
    return decision;
  }
  if (decision.previous_status == "complete" && !resume_requested) {
    HPCNN_THROW(dir_.string(),
                ": holds a complete run: --resume continues it (with a larger --epochs or --max-steps), --force "
                "replaces it, or choose another --out");
  }
  const int stale = remove_temporaries(dir_);
  std::vector<std::string> skipped;
  std::vector<fs::path> refused;
  const auto found = resumable_checkpoints(dir_, {final_checkpoint}, &skipped, &refused);
  std::string skipped_text;
  for (const std::string& s : skipped) skipped_text += (skipped_text.empty() ? "" : "; ") + s;
  if (!found.empty()) {
    HPCNN_CHECK(!restart_from_scratch, "--restart-from-scratch: ", dir_.string(), " holds a valid checkpoint (",
                found.front().second.filename().string(), ", step ", found.front().first,
                "): run without --restart-from-scratch to resume from it, or --force to replace the run");
    decision.resume = true;
    decision.checkpoint_step = found.front().first;
    decision.checkpoint = found.front().second;
    decision.note =
        cat("resuming the ", decision.previous_status.empty() ? "unfinished" : decision.previous_status, " run in ",
            dir_.string(), " from ", decision.checkpoint.filename().string(), " (step ", decision.checkpoint_step, ")",
            skipped.empty() ? std::string() : cat("; skipped invalid checkpoint(s): ", skipped_text),
            stale > 0 ? cat("; removed ", stale, " leftover temporary file(s)") : std::string());
    return decision;
  }
  // Checkpoints that exist but cannot be used (truncated, held open for
  // writing, damaged, failing their checksums) are never deleted and never
  // silently replaced by a run from step 0: hours of a job may be in them.
  HPCNN_CHECK(skipped.empty() || restart_from_scratch, dir_.string(),
              ": no checkpoint can be resumed from, and none is deleted: ", skipped_text,
              ". --restart-from-scratch starts again from step 0 (keeping them in ", (dir_ / kRefusedDir).string(),
              "), --force replaces the run");
  HPCNN_CHECK(decision.previous_status != "complete", "--resume ", dir_.string(),
              ": the run is complete but no resumable checkpoint is left");
  std::string kept;
  if (!refused.empty()) {
    // Asked for explicitly: the refused checkpoints move aside, kept.
    const fs::path aside = dir_ / kRefusedDir;
    fs::create_directories(aside);
    for (const fs::path& p : refused) {
      fs::path to = aside / p.filename();
      for (int i = 1; fs::exists(fs::symlink_status(to)); ++i) to = aside / cat(p.filename().string(), ".", i);
      fs::rename(p, to);
    }
    kept = cat("; kept the ", refused.size(), " refused checkpoint(s) in ", aside.string());
  }
  for (const fs::path& p : own) {
    if (p.filename() != kRefusedDir) fs::remove_all(p);
  }
  decision.note =
      cat("the ", decision.previous_status.empty() ? "unfinished" : decision.previous_status, " run in ", dir_.string(),
          refused.empty() ? " left no checkpoint" : " has no valid checkpoint (--restart-from-scratch)",
          ": starting again from step 0", kept);
  return decision;
}

void RunDirectory::write_manifest(nlohmann::json manifest, RunStatus status, const std::string& detail) {
  std::lock_guard<std::mutex> lock(mutex_);
  manifest_ = std::move(manifest);
  stamp_locked(status, detail);
}

void RunDirectory::set_status(RunStatus status, const std::string& detail) {
  std::lock_guard<std::mutex> lock(mutex_);
  stamp_locked(status, detail);
}

void RunDirectory::stamp_locked(RunStatus status, const std::string& detail) {
  manifest_["status"] = run_status_name(status);
  manifest_["status_detail"] = detail;
  manifest_["status_time"] = now_iso();
  write_file_atomic(dir_ / "run.json", manifest_.dump(2) + "\n");
}

}  // namespace hpcnn::train
