// `hpcnn train`'s command line as a TrainArgs, apart from running it: the
// option table's declarations, copy, range checks and --resume's recorded
// values, without MPI (tests/unit/test_train_options.cpp uses it).
#pragma once

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "train/train_options.hpp"

namespace hpcnn::cli {

/// Reads `args` into `a` (TrainConfig's defaults for what is not given; with
/// --resume, the values run.json recorded for the restored options not given).
/// Returns false when --help was printed. Throws UsageError naming the option.
bool parse_train_args(const Args& args, train::TrainArgs& a, CommonConfig& common);

}  // namespace hpcnn::cli
