// The train options, one row each: the command line, the run record and
// the resume check are all generated from this table.
//
// A row names the option (--lr), its key in run.json's config record (lr),
// whether a change alters the trajectory (then a resume with another value is
// refused by the option's name), whether --resume takes the recorded value
// when the option is not given, its help text (the range is added from the
// row) and how its text is read into a TrainConfig (range-checked, a
// UsageError naming the option). The defaults are TrainConfig's member
// initialisers, stated nowhere else. Before this table an option lived in six
// places (declaration, key table, value copy, range check, to_json, resume
// keys) and a name missing from the copy was silently ignored.
//
// A few rows are declared by a shared option group of the command line
// (cli/option_groups.hpp: --backend, --threads, --precision, --gpu, one help
// text for every command): kSharedGroup. A few record a value no option sets
// (beta1, beta2, evaluate_test): no name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/trainer.hpp"

namespace hpcnn::train {

/// What `hpcnn train` reads: the run's configuration and the two options
/// that are not part of it (where to resume from, how to group ranks).
struct TrainArgs {
  TrainConfig config;
  std::filesystem::path resume;  ///< --resume RUN_DIR (empty: not given)
  int ranks_per_node = 0;        ///< --ranks-per-node (0: real nodes)
};

struct TrainOption {
  enum Flags : unsigned {
    kTrajectory = 1,   ///< changes results: the ranks must agree and a resume must not change it
    kRestored = 2,     ///< --resume takes the recorded value unless the option is given
    kSwitch = 4,       ///< a flag without a value (text "true" / "false")
    kSharedGroup = 8,  ///< declared by cli/option_groups (one help text for every command)
    kNewerKey = 16,    ///< older run.json files lack the key: its absence meant the default
  };
  std::string name;        ///< the command-line name without "--"; empty: recorded only
  char short_name = 0;     ///< e.g. 'b' for -b; 0: none
  std::string key;         ///< the key in run.json's config record; empty: not recorded
  std::string resume_key;  ///< where --resume reads it back (usually `key`)
  /// kRestored rows: options whose presence also keeps the recorded value out
  /// (--batch for --global-batch: the per-rank batch given decides anew).
  std::vector<std::string> restore_unless;
  unsigned flags = 0;
  std::string value_name;  ///< shown in --help ("DIR")
  std::string help;        ///< with the range, generated from the row
  std::string example;     ///< a valid value other than the default (the round-trip test uses it)
  /// The value in `a` as the command line writes it (--help shows the default's).
  std::function<std::string(const TrainArgs& a)> text;
  /// Reads `text` into `a`; throws UsageError naming the option when the text
  /// is not a value or out of range.
  std::function<void(TrainArgs& a, const std::string& text)> set;
  /// The value as run.json records it (rows with a key).
  std::function<nlohmann::json(const TrainConfig& c)> json;

  bool has(unsigned flag) const { return (flags & flag) != 0; }
  /// "--lr", or for a recorded-only row the key as an option would be spelt.
  std::string option() const;
};

/// Every row, in --help order.
const std::vector<TrainOption>& train_options();

/// A recorded JSON value as command-line text (strings as they are, numbers
/// in their shortest exact form, booleans as true / false).
std::string json_as_text(const nlohmann::json& value);

}  // namespace hpcnn::train
