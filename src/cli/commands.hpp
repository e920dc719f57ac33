// The hpcnn subcommands. Each takes the arguments after its command words
// and returns the process exit code; errors are thrown (see apps/hpcnn.cpp).
#pragma once

#include <string>
#include <vector>

namespace hpcnn::cli {

using Args = std::vector<std::string>;

/// Routes "data import-idx ..." etc. to the command; prints the command list
/// for --help or no arguments.
int dispatch(const Args& args);

int run_data_import_idx(const Args& args);
int run_data_import_npz(const Args& args);
int run_data_import_images(const Args& args);
int run_data_synth(const Args& args);
int run_data_inspect(const Args& args);
int run_data_verify(const Args& args);
int run_data_augment(const Args& args);
int run_info(const Args& args);
int run_summary(const Args& args);
int run_train(const Args& args);
int run_infer(const Args& args);
int run_quantize(const Args& args);
int run_predict(const Args& args);
int run_serve(const Args& args);
int run_bench_layers(const Args& args);
int run_bench_allreduce(const Args& args);
int run_bench_read(const Args& args);

}  // namespace hpcnn::cli
