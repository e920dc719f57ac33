// Option parsing shared by every subcommand.
#include "cli/options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/fs.hpp"

namespace hpcnn::cli {

LogLevel CommonConfig::log_level() const {
  if (quiet) return LogLevel::kQuiet;
  return verbose ? LogLevel::kDebug : LogLevel::kInfo;
}

std::string value_text(const boost::any& value) {
  if (value.empty()) return "";
  if (auto* s = boost::any_cast<std::string>(&value)) return *s;
  if (auto* i = boost::any_cast<int>(&value)) return std::to_string(*i);
  if (auto* l = boost::any_cast<long>(&value)) return std::to_string(*l);
  if (auto* ll = boost::any_cast<long long>(&value)) return std::to_string(*ll);
  if (auto* ul = boost::any_cast<unsigned long>(&value)) return std::to_string(*ul);
  if (auto* b = boost::any_cast<bool>(&value)) return *b ? "true" : "false";
  if (auto* d = boost::any_cast<double>(&value)) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  if (auto* v = boost::any_cast<std::vector<std::string>>(&value)) {
    std::string out;
    for (const auto& item : *v) out += (out.empty() ? "" : ",") + item;
    return out;
  }
  return "<value>";
}

namespace {

// Boost.Program_options 1.74 fills %value%, %canonical_option% and the like
// into its error messages with a loop that never ends when the text put in
// contains the placeholder itself: `hpcnn train --epochs %value%` hung (found
// by tests/fuzz/fuzz_config). So '%' travels through Boost as a stand-in
// character and is put back in the stored values and in error messages.
constexpr char kPercentStandIn = '\x1f';

std::string hide_percent(std::string text) {
  std::replace(text.begin(), text.end(), '%', kPercentStandIn);
  return text;
}

std::string restore_percent(std::string text) {
  std::replace(text.begin(), text.end(), kPercentStandIn, '%');
  return text;
}

void restore_percent(po::variables_map& vm) {
  for (auto& entry : vm) {
    boost::any& value = entry.second.value();
    if (auto* s = boost::any_cast<std::string>(&value)) {
      *s = restore_percent(*s);
    } else if (auto* v = boost::any_cast<std::vector<std::string>>(&value)) {
      for (std::string& item : *v) item = restore_percent(item);
    }
  }
}

void add_common(CommandSpec& spec, CommonConfig& common) {
  // clang-format off
  spec.options.add_options()
      ("help,h", "show this help and exit")
      ("config", po::value<std::string>(&common.config_file)->value_name("FILE"),
       "read options from an INI file (command-line options win)")
      ("quiet,q", po::bool_switch(&common.quiet),
       "print errors and results only")
      ("verbose,v", po::bool_switch(&common.verbose),
       "print debug messages");
  // clang-format on
}
}  // namespace

void print_help(const CommandSpec& spec, std::ostream& os) {
  os << "Usage: " << spec.name << " [options]" << (spec.positional_usage.empty() ? "" : " " + spec.positional_usage)
     << "\n\n"
     << spec.summary << "\n\n"
     << spec.options << "\n";
  if (!spec.details.empty()) os << spec.details << "\n";
}

bool parse(CommandSpec& spec, const std::vector<std::string>& args, CommonConfig& common) {
  add_common(spec, common);
  po::variables_map vm;
  std::vector<std::string> hidden;
  for (const std::string& arg : args) hidden.push_back(hide_percent(arg));
  try {
    auto parsed = po::command_line_parser(hidden)
                      .options(spec.options)
                      .positional(spec.positional)
                      .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                      .run();
    po::store(parsed, vm);
    restore_percent(vm);
    if (vm.count("help")) {
      print_help(spec, std::cout);
      return false;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      // A regular file of at most 1 MiB, checked before reading: --config
      // /dev/urandom grew to 4.3 GB in 20 s.
      std::string text;
      try {
        text = read_text_file(path, int64_t{1} << 20);
      } catch (const Error& e) {
        throw UsageError("--config " + e.message());
      }
      std::istringstream in(text);
      parse_config_stream(spec, in, path, vm);
    }
    po::notify(vm);
    spec.vm = vm;
  } catch (const po::error& e) {
    throw UsageError(restore_percent(e.what()));
  }
  require_finite(vm);
  // Under MPI only rank 0 echoes: one configuration per job, not p copies.
  if (common.log_level() >= LogLevel::kInfo && process_rank() <= 0) {
    std::cerr << "# " << spec.name << " — effective configuration\n" << effective_config(spec, vm) << std::flush;
  }
  return true;
}

void parse_config_stream(const CommandSpec& spec, std::istream& in, const std::string& origin, po::variables_map& vm) {
  std::ostringstream text;
  text << in.rdbuf();
  std::istringstream hidden(hide_percent(text.str()));
  try {
    po::store(po::parse_config_file(hidden, spec.options, /*allow_unregistered=*/false), vm);
  } catch (const po::error& e) {
    throw UsageError("--config " + origin + ": " + restore_percent(e.what()));
  }
  restore_percent(vm);
}

void require_finite(const po::variables_map& vm) {
  // Range checks compare, and every comparison with NaN is false: a NaN
  // learning rate or noise level would pass them and poison a whole run.
  for (const auto& [key, value] : vm) {
    const boost::any& v = value.value();
    double d = 0;
    if (auto* dp = boost::any_cast<double>(&v)) {
      d = *dp;
    } else if (auto* fp = boost::any_cast<float>(&v)) {
      d = *fp;
    } else {
      continue;
    }
    if (!std::isfinite(d)) throw UsageError(cat("--", key, " must be a finite number (got ", d, ")"));
  }
}

std::string effective_config(const CommandSpec& spec, const po::variables_map& vm) {
  std::ostringstream os;
  for (const auto& option : spec.options.options()) {
    const std::string& key = option->long_name();
    if (key == "help" || key == "config" || !vm.count(key)) continue;
    os << key << " = " << value_text(vm[key].value()) << "\n";
  }
  return os.str();
}

uint64_t parse_seed(const std::string& text) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
    throw UsageError(cat("--seed must be a whole number from 0 to ", UINT64_MAX, " (got '", text, "')"));
  }
  return v;
}

std::vector<std::string> split_list(const std::string& text, const char* option) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream is(text);
  while (std::getline(is, item, ',')) {
    if (item.empty()) throw UsageError(cat("--", option, ": empty item in '", text, "'"));
    out.push_back(item);
  }
  return out;
}

}  // namespace hpcnn::cli
