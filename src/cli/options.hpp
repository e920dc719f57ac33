// Shared command-line machinery on Boost.Program_options.
//
// Every subcommand declares its options bound to a plain Config struct, then
// calls parse(). parse() handles --help, --config FILE (INI; the command line
// wins over the file), positional arguments, unknown options (UsageError, exit
// code 2) and echoes the effective configuration as INI lines, which can be
// saved and passed back with --config.
#pragma once

#include <boost/program_options.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"

namespace hpcnn::cli {

namespace po = boost::program_options;

struct CommandSpec {
  std::string name;              ///< "hpcnn data import-idx"
  std::string summary;           ///< one line
  std::string positional_usage;  ///< e.g. "DIR" (shown in usage)
  std::string details;           ///< free text after the options (examples)
  po::options_description options{"Options", 100, 50};
  po::positional_options_description positional;
  po::variables_map vm;  ///< filled by parse(): which options were given (vm[name].defaulted())
};

/// What every command accepts besides its own options.
struct CommonConfig {
  std::string config_file;
  bool quiet = false;
  bool verbose = false;
  LogLevel log_level() const;
};

/// Parses `args` (without the command words) into the bound variables.
/// Returns false when --help was printed (the command should exit 0).
/// Throws UsageError for anything the user got wrong, including a NaN or
/// infinite value of any floating-point option.
bool parse(CommandSpec& spec, const std::vector<std::string>& args, CommonConfig& common);

/// Stores the options of INI text `in` (read from `origin`, for messages) into
/// `vm`; values already in `vm` win. Throws UsageError naming `origin`. The
/// part of parse() that reads --config FILE, separate so that it can be fed
/// from memory (tests/fuzz/fuzz_config.cpp).
void parse_config_stream(const CommandSpec& spec, std::istream& in, const std::string& origin, po::variables_map& vm);

/// Throws UsageError naming the option unless every floating-point value in
/// `vm` is finite.
void require_finite(const po::variables_map& vm);

/// An option's stored value as text ("" when empty), as the effective
/// configuration shows it.
std::string value_text(const boost::any& value);

/// The effective configuration as "key = value" lines, in declaration order.
std::string effective_config(const CommandSpec& spec, const po::variables_map& vm);

/// Prints the help text of a command.
void print_help(const CommandSpec& spec, std::ostream& os);

/// Throws UsageError unless lo <= value <= hi. Written as !(in range) so that
/// NaN, which compares false with everything, is rejected too.
template <typename T>
void require_range(const char* option, T value, T lo, T hi) {
  if (!(value >= lo && value <= hi)) {
    throw UsageError(cat("--", option, " must be between ", lo, " and ", hi, " (got ", value, ")"));
  }
}

/// The value of --seed: a whole number from 0 to 2^64-1. Commands declare
/// --seed as text and read it here, since Boost's unsigned parsing accepts a
/// sign and wraps it (`hpcnn data synth --seed -1` ran with seed
/// 18446744073709551615). Throws UsageError naming --seed, in the words of
/// `hpcnn train --seed`.
uint64_t parse_seed(const std::string& text);

/// Splits "a,b,c" (empty items rejected).
std::vector<std::string> split_list(const std::string& text, const char* option);

}  // namespace hpcnn::cli
