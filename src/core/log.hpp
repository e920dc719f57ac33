// Rank-aware logging to stderr.
//
// Lines carry a "[hpcnn rN]" prefix when the process is an MPI rank so that
// interleaved output from many ranks stays attributable. Progress lines use
// "\r" on a terminal and plain lines otherwise (batch logs stay readable).
#pragma once

#include <string>
#include <string_view>

namespace hpcnn {

enum class LogLevel { kQuiet = 0, kInfo = 1, kDebug = 2 };

/// A logger is a value: apps make one from their options and pass it down.
class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kInfo);
  void info(std::string_view message) const;
  void debug(std::string_view message) const;
  void warn(std::string_view message) const;
  /// Overwrites the previous progress line on a terminal; finish with end_progress().
  void progress(std::string_view message) const;
  void end_progress() const;
  LogLevel level() const { return level_; }

 private:
  void write(std::string_view tag, std::string_view message) const;
  LogLevel level_;
  bool tty_;
  std::string prefix_;
};

}  // namespace hpcnn
