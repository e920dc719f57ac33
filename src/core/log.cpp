// Logger implementation: one fwrite per line so lines from ranks do not tear.
#include "core/log.hpp"

#include <unistd.h>

#include <cstdio>

#include "core/error.hpp"

namespace hpcnn {

Logger::Logger(LogLevel level) : level_(level), tty_(isatty(STDERR_FILENO) != 0) {
  const int rank = process_rank();
  prefix_ = rank >= 0 ? "[hpcnn r" + std::to_string(rank) + "] " : "[hpcnn] ";
}

void Logger::write(std::string_view tag, std::string_view message) const {
  std::string line = prefix_;
  line.append(tag).append(message).push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void Logger::info(std::string_view message) const {
  if (level_ >= LogLevel::kInfo) write("", message);
}

void Logger::debug(std::string_view message) const {
  if (level_ >= LogLevel::kDebug) write("debug: ", message);
}

void Logger::warn(std::string_view message) const { write("warning: ", message); }

void Logger::progress(std::string_view message) const {
  if (level_ < LogLevel::kInfo) return;
  if (!tty_) {
    write("", message);
    return;
  }
  std::string line = "\r" + prefix_;
  line.append(message).append("\x1b[K");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void Logger::end_progress() const {
  if (tty_ && level_ >= LogLevel::kInfo) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
}

}  // namespace hpcnn
