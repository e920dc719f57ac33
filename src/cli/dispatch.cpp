// Command routing and the top-level help.
#include <iostream>

#include "cli/commands.hpp"
#include "core/build_info_access.hpp"
#include "core/error.hpp"

namespace hpcnn::cli {

namespace {
struct Route {
  const char* group;  ///< "" for top-level commands
  const char* name;
  const char* summary;
  int (*run)(const Args&);
};

constexpr Route kRoutes[] = {
    {"data", "import-idx", "import MNIST-format IDX files (Fashion-MNIST by default) into sharded HDF5",
     run_data_import_idx},
    {"data", "import-npz", "import images and labels from a NumPy .npz archive into sharded HDF5", run_data_import_npz},
    {"data", "import-images", "import a folder of PNG/JPEG images, one subfolder per class, into sharded HDF5",
     run_data_import_images},
    {"data", "synth", "generate a synthetic dataset: solar-maps, solar-table, circuits or math-symbols",
     run_data_synth},
    {"data", "inspect", "print a dataset's shapes, counts and class histogram", run_data_inspect},
    {"data", "verify", "check every shard's checksum and contents; non-zero exit names bad shards", run_data_verify},
    {"data", "augment", "a PNG grid of what train --augment makes of a dataset's samples, epoch by epoch",
     run_data_augment},
    {"", "train", "train a model on a dataset; metrics.json and a checkpoint in a run directory", run_train},
    {"", "infer", "evaluate a checkpoint and time inference per batch size", run_infer},
    {"", "quantize", "fold a checkpoint for inference and quantise it to int8 (calibrated on a dataset)", run_quantize},
    {"", "predict", "classify PNG images with a checkpoint (class, name, probability; --json)", run_predict},
    {"", "serve", "a web page to write on, POST /predict and POST /transcribe (expressions to LaTeX)", run_serve},
    {"bench", "allreduce", "compare all-reduce algorithms over message sizes (under mpirun)", run_bench_allreduce},
    {"bench", "layers", "time forward/backward of every layer of a model", run_bench_layers},
    {"bench", "read", "time reading a split: HDF5 per rank, over MPI-IO, and plain reads (under mpirun)",
     run_bench_read},
    {"", "summary", "print a model's layers, output shapes and parameter counts", run_summary},
    {"", "info", "build configuration, library versions and GPUs", run_info},
};

void print_commands(std::ostream& os) {
  os << "Usage: hpcnn <command> [options]     (hpcnn <command> --help for details)\n\n"
     << "hpcnn " << version_string() << " — data-parallel training and timing suite\n\nCommands:\n";
  for (const Route& r : kRoutes) {
    const std::string words = std::string(r.group) + (r.group[0] ? " " : "") + r.name;
    os << "  " << words << std::string(words.size() < 20 ? 20 - words.size() : 1, ' ') << r.summary << "\n";
  }
  os << "  version             print the version and exit\n";
}
}  // namespace

int dispatch(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_commands(std::cout);
    return 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "hpcnn " << version_string() << "\n";
    return 0;
  }
  for (const Route& r : kRoutes) {
    if (r.group[0] == '\0' && args[0] == r.name) return r.run(Args(args.begin() + 1, args.end()));
  }
  bool group_known = false;
  for (const Route& r : kRoutes) {
    if (args[0] != r.group) continue;
    group_known = true;
    if (args.size() >= 2 && args[1] == r.name) return r.run(Args(args.begin() + 2, args.end()));
  }
  if (group_known) {
    if (args.size() >= 2 && args[1] != "--help" && args[1] != "-h") {
      throw UsageError("unknown command 'hpcnn " + args[0] + " " + args[1] + "' (see hpcnn --help)");
    }
    print_commands(std::cout);
    return args.size() >= 2 ? 0 : 2;
  }
  throw UsageError("unknown command '" + args[0] + "' (see hpcnn --help)");
}

}  // namespace hpcnn::cli
