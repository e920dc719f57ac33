// Atomic file and directory output.
#include "core/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.hpp"
#include "core/log.hpp"

namespace fs = std::filesystem;

namespace hpcnn {

namespace {
fs::path temporary_sibling(const fs::path& path) {
  return path.parent_path() / (path.filename().string() + ".tmp." + std::to_string(getpid()));
}

/// Whether process `pid` exists on this machine (/proc/PID is there).
bool process_alive(long pid) { return fs::exists(fs::path("/proc") / std::to_string(pid)); }

/// Removes ".NAME.partial.PID" and ".NAME.old.PID" siblings of `destination`
/// left by processes that died (killed imports); a live process's are its own
/// business and stay. A PID reused by an unrelated live process keeps its
/// leftover until the next run: harmless, and never a live directory lost.
/// An ".old." directory that still holds entries not `replaceable` (a user's
/// files, caught by a crash between commit()'s renames) is kept.
void remove_stale_siblings(const fs::path& parent, const std::string& name,
                           const std::function<bool(const std::string&)>& replaceable) {
  std::error_code ec;
  fs::directory_iterator it(parent, ec);
  if (ec) return;
  for (const auto& entry : it) {
    const std::string file = entry.path().filename().string();
    for (const std::string& prefix : {"." + name + ".partial.", "." + name + ".old."}) {
      if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string digits = file.substr(prefix.size());
      if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
      const long pid = std::stol(digits);
      if (pid == static_cast<long>(getpid()) || process_alive(pid)) continue;
      std::error_code ignored;
      if (prefix.find(".old.") != std::string::npos && replaceable) {
        bool only_ours = true;
        for (const auto& inner : fs::directory_iterator(entry.path(), ignored)) {
          only_ours = only_ours && replaceable(inner.path().filename().string());
        }
        if (!only_ours) continue;
      }
      fs::remove_all(entry.path(), ignored);
    }
  }
}
}  // namespace

void write_file_atomic(const fs::path& path, std::string_view contents) {
  const fs::path tmp = temporary_sibling(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  HPCNN_CHECK(fd >= 0, path.string(), ": cannot create: ", open_error(errno));
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      HPCNN_THROW(path.string(), ": write failed: ", std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    const int err = errno;
    ::unlink(tmp.c_str());
    HPCNN_THROW(path.string(), ": cannot finish writing: ", std::strerror(err));
  }
  rename_into_place(tmp, path);
}

void rename_into_place(const fs::path& tmp, const fs::path& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    HPCNN_THROW(path.string(), ": cannot move into place: ", ec.message());
  }
}

bool path_within(const fs::path& path, const fs::path& dir) {
  std::error_code path_ec, dir_ec;
  const fs::path p = fs::weakly_canonical(path, path_ec), d = fs::weakly_canonical(dir, dir_ec);
  if (path_ec || dir_ec || d.empty()) return false;  // unresolvable: not shown to be inside
  return std::mismatch(d.begin(), d.end(), p.begin(), p.end()).first == d.end();
}

void check_output_path(const std::string& option, const fs::path& out, const std::vector<fs::path>& input_files,
                       const std::vector<fs::path>& input_dirs) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(out, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(fs::status(out, ec))) {
    throw UsageError(option + " " + out.string() + ": exists and is not a regular file (a device, FIFO or directory)");
  }
  const fs::path o = fs::weakly_canonical(out, ec);
  for (const fs::path& in : input_files) {
    std::error_code e2;
    if (!in.empty() && fs::weakly_canonical(in, e2) == o) {
      throw UsageError(option + " " + out.string() + " is also an input of this command (" + in.string() + ")");
    }
  }
  for (const fs::path& dir : input_dirs) {
    if (!dir.empty() && path_within(out, dir)) {
      throw UsageError(option + " " + out.string() + " is inside " + dir.string() +
                       ", which this command reads: write it elsewhere");
    }
  }
}

void check_output_file(const std::string& option, const fs::path& out, const OutputRules& rules) {
  check_output_path(option, out, rules.input_files, rules.input_dirs);
  std::error_code ec;
  if (rules.force || !fs::exists(fs::symlink_status(out, ec))) return;
  if (!rules.own_dir.empty() && path_within(out, rules.own_dir)) return;
  if (rules.written_by_hpcnn && rules.written_by_hpcnn(out)) return;
  throw UsageError(option + " " + out.string() +
                   ": exists and is not a file hpcnn wrote: --force replaces it, or choose another path");
}

std::function<bool(const fs::path&)> text_file_starting_with(std::string prefix) {
  return [prefix = std::move(prefix)](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::string head(prefix.size(), '\0');
    return in.read(head.data(), static_cast<std::streamsize>(head.size())) && head == prefix;
  };
}

std::string open_error(int err) {
  if (err == ELOOP) return "it is a symbolic link, which hpcnn does not follow here (remove it)";
  return std::strerror(err);
}

std::string read_text_file(const fs::path& path, int64_t max_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  HPCNN_CHECK(!ec && fs::exists(st), path.string(), ": cannot open: ", ec ? ec.message() : "no such file");
  HPCNN_CHECK(fs::is_regular_file(st), path.string(), ": not a regular file (a device, FIFO or directory)");
  const auto size = fs::file_size(path, ec);
  HPCNN_CHECK(!ec && static_cast<int64_t>(size) <= max_bytes, path.string(), ": ",
              ec ? ec.message() : cat(size, " bytes, more than the ", max_bytes, " this file may have"));
  std::ifstream in(path, std::ios::binary);
  HPCNN_CHECK(in.good(), path.string(), ": cannot open: ", std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  HPCNN_CHECK(!in.bad(), path.string(), ": read error");
  return out.str();
}

bool dataset_writer_file(const std::string& name) {
  static const std::regex kShard(R"(.+-\d{5,}-of-\d{5,}\.h5)");
  static const std::regex kTemporary(R"(.+\.tmp(\.\d+)?)");
  return name == "manifest.json" || std::regex_match(name, kShard) || std::regex_match(name, kTemporary);
}

StagingDir::StagingDir(fs::path destination, bool overwrite, std::function<bool(const std::string&)> replaceable)
    : destination_(std::move(destination)), overwrite_(overwrite), replaceable_(std::move(replaceable)) {
  if (destination_.filename().empty()) destination_ = destination_.parent_path();
  HPCNN_CHECK(overwrite_ || !fs::exists(destination_), destination_.string(),
              ": already exists (use --force to replace it)");
  const fs::path parent = destination_.parent_path().empty() ? fs::path(".") : destination_.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  HPCNN_CHECK(!ec, parent.string(), ": cannot create directory: ", ec.message());
  remove_stale_siblings(parent, destination_.filename().string(), replaceable_);
  staging_ = parent / ("." + destination_.filename().string() + ".partial." + std::to_string(getpid()));
  fs::remove_all(staging_, ec);
  fs::create_directory(staging_, ec);
  HPCNN_CHECK(!ec, staging_.string(), ": cannot create directory: ", ec.message());
}

StagingDir::~StagingDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagingDir::commit() {
  std::error_code ec;
  fs::path old;
  std::vector<fs::path> carry;  // the old destination's entries that are not ours to replace
  if (fs::exists(destination_)) {
    HPCNN_CHECK(overwrite_, destination_.string(), ": already exists (use --force to replace it)");
    if (fs::is_directory(fs::symlink_status(destination_))) {
      for (const auto& entry : fs::directory_iterator(destination_)) {
        const std::string name = entry.path().filename().string();
        if (!replaceable_ || !replaceable_(name)) carry.push_back(entry.path());
      }
    }
    std::sort(carry.begin(), carry.end());
    for (const fs::path& p : carry) {
      HPCNN_CHECK(!fs::exists(fs::symlink_status(staging_ / p.filename())), destination_.string(), ": ",
                  p.filename().string(), " is not a file hpcnn replaces, but the new output has one of that name");
    }
    old = destination_.parent_path() / ("." + destination_.filename().string() + ".old." + std::to_string(getpid()));
    fs::rename(destination_, old, ec);
    HPCNN_CHECK(!ec, destination_.string(), ": cannot move aside: ", ec.message());
  }
  fs::rename(staging_, destination_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, destination_);
    HPCNN_THROW(destination_.string(), ": cannot move into place: ", ec.message());
  }
  committed_ = true;
  if (old.empty()) return;
  // The user's entries move from the old directory into the new one (one
  // filesystem: renames); the old one, now only hpcnn's files, goes. Any that
  // cannot move keeps the old directory, named, rather than being deleted.
  std::vector<std::string> stuck;
  for (const fs::path& p : carry) {
    fs::rename(old / p.filename(), destination_ / p.filename(), ec);
    (ec ? stuck : kept_).push_back(p.filename().string());
  }
  if (!kept_.empty()) {
    std::string names;
    for (size_t i = 0; i < kept_.size() && i < 5; ++i) names += (i ? ", " : "") + kept_[i];
    if (kept_.size() > 5) names += cat(" and ", kept_.size() - 5, " more");
    Logger().warn(cat(destination_.string(), ": --force replaced only hpcnn's files; kept ", kept_.size(),
                      " it did not write: ", names));
  }
  HPCNN_CHECK(stuck.empty(), destination_.string(), ": could not move back ", stuck.front(), " (and any others) from ",
              old.string(), ", where they are kept");
  fs::remove_all(old, ec);
}

}  // namespace hpcnn
