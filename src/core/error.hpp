// hpcnn::Error — the one exception library code throws.
//
// It carries the MPI rank (when known) and the file:line that raised it, so a
// message from a 64-rank job says where it came from. Each app catches once
// around main, prints what() as one line and exits non-zero; UsageError marks
// bad command-line input and maps to exit code 2.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace hpcnn {

/// Process rank from MPI (when initialised) or the launcher's environment
/// (Open MPI, PMI, Slurm); -1 when the process was not started as a rank.
int process_rank();
/// This machine's host name ("" when it cannot be read).
std::string host_name();

/// Concatenates any streamable values into one string.
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line);
  /// The message without the location suffix.
  const std::string& message() const { return message_; }
  const char* file() const { return file_; }
  int line() const { return line_; }
  int rank() const { return rank_; }

 private:
  std::string message_;
  const char* file_;
  int line_;
  int rank_;
};

/// Bad user input on the command line or in a config file (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hpcnn

/// Throws hpcnn::Error with the given message parts and this file:line.
#define HPCNN_THROW(...) throw ::hpcnn::Error(::hpcnn::cat(__VA_ARGS__), __FILE__, __LINE__)

/// Throws hpcnn::Error unless cond holds; the message parts follow.
#define HPCNN_CHECK(cond, ...)  \
  do {                          \
    if (!(cond)) {              \
      HPCNN_THROW(__VA_ARGS__); \
    }                           \
  } while (0)
