// hpcnn quantize: a training checkpoint folded for inference (batch norm into
// the convolutions, activations fused) and, by default, quantised to int8
// with scales calibrated on a dataset split (src/quant/inference_graph.hpp).
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <numeric>

#include "cli/commands.hpp"
#include "cli/option_groups.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "quant/inference_graph.hpp"
#include "train/checkpoint.hpp"

namespace fs = std::filesystem;

namespace hpcnn::cli {

int run_quantize(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn quantize";
  spec.summary =
      "Fold a checkpoint for inference (batch norm into the convolution before it, ReLU/ReLU6 fused) and\n"
      "quantise it to int8: one symmetric scale per output channel of every conv and dense layer, one scale\n"
      "per input, calibrated on a dataset split (u8 inputs where they were never negative, s8 elsewhere).";
  spec.details =
      "The output is an HDF5 inference file (docs/formats.md, format hpcnn-inference) that hpcnn infer runs\n"
      "like a checkpoint; --precision fp32 writes the folded FP32 graph instead (a like-for-like baseline).\n"
      "int8 runs on oneDNN's u8/s8 kernels: AVX-512 VNNI or AMX where the CPU has them (hpcnn infer -v\n"
      "names the kernel of every layer).\n"
      "Examples:\n"
      "  hpcnn quantize --checkpoint run/model.h5 --calibration datasets/parts --out run/model-int8.h5\n"
      "  hpcnn quantize -c run/model.h5 --precision fp32 --out run/model-fp32.h5";
  std::string ckpt_path, calib_dir, split = "train", out, precision = "int8";
  long long samples = 512, batch = 64;
  ComputeOptions compute;
  bool force = false;
  // clang-format off
  spec.options.add_options()
      ("checkpoint,c", po::value<std::string>(&ckpt_path)->required()->value_name("FILE"), "training checkpoint (model.h5)")
      ("calibration", po::value<std::string>(&calib_dir)->value_name("DIR"),
       "dataset whose samples calibrate the activation scales (int8: required)")
      ("split", po::value<std::string>(&split)->default_value(split), "calibration split")
      ("samples", po::value<long long>(&samples)->default_value(samples),
       "calibration samples, spread evenly over the split (all when the split is smaller)")
      ("precision", po::value<std::string>(&precision)->default_value(precision), "int8 | fp32 (folded, not quantised)")
      ("out,o", po::value<std::string>(&out)->required()->value_name("FILE"), "inference file to write")
      ("force", po::bool_switch(&force), "let --out replace an existing file hpcnn did not write")
      ("batch", po::value<long long>(&batch)->default_value(batch), "calibration batch size");
  // clang-format on
  add_compute_options(spec.options, compute, kThreadsOption);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  const int threads = compute.threads;
  if (precision != "int8" && precision != "fp32") {
    throw UsageError("--precision must be int8 or fp32 (got '" + precision + "')");
  }
  const bool int8 = precision == "int8";
  if (int8 && calib_dir.empty()) throw UsageError("--precision int8 needs --calibration DATASET");
  require_range<long long>("samples", samples, 1, 1 << 24);
  require_range<long long>("batch", batch, 1, 1 << 16);
  check_compute_options(compute, kThreadsOption);
  // Before anything is read or written: not a device, FIFO or directory, not
  // the checkpoint, not inside the calibration dataset, and an existing file
  // only when hpcnn wrote it (or --force).
  OutputRules rules;
  rules.input_files = {ckpt_path};
  if (!calib_dir.empty()) rules.input_dirs = {calib_dir};
  rules.force = force;
  rules.written_by_hpcnn = train::hpcnn_hdf5_file;
  check_output_file("--out", out, rules);
  const Logger log(common.log_level());

  const train::Checkpoint ckpt = train::load_checkpoint(ckpt_path);
  const model::ModelSpec model_spec = model::resolve(ckpt.model_name, ckpt.model_text, ckpt.input);
  quant::Graph graph = quant::fold(model_spec, ckpt.loss, ckpt.params);
  graph.dataset_name = ckpt.dataset_name;
  graph.sample_dtype = ckpt.sample_dtype;
  graph.class_names = ckpt.class_names;
  graph.source = fs::absolute(ckpt_path).string();
  const int64_t fp32_bytes = graph.weight_bytes();
  log.info(cat("fold: ", model_spec.layers.size(), " layers of ", ckpt.model_name, " -> ", graph.ops.size(), " ops"));
  if (int8) {
    const data::Manifest manifest = data::load_manifest(calib_dir);
    const model::Shape input{manifest.sample_shape[0], manifest.sample_shape[1], manifest.sample_shape[2]};
    HPCNN_CHECK(input == ckpt.input, "--calibration ", calib_dir, ": samples of ", input.str(), ", the checkpoint's ",
                "model takes ", ckpt.input.str());
    data::SplitReader reader(calib_dir, manifest, split);
    const int64_t n = std::min<int64_t>(samples, reader.num_samples());
    // Evenly spread over the split (its order may be by class).
    std::vector<int64_t> picks(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) picks[static_cast<size_t>(i)] = i * reader.num_samples() / n;
    quant::Engine engine(graph, threads);
    quant::Calibration calibration;
    engine.observe(&calibration);
    data::Batch b;
    for (int64_t first = 0; first < n; first += batch) {
      const int64_t count = std::min<int64_t>(batch, n - first);
      reader.read(std::span<const int64_t>(picks).subspan(static_cast<size_t>(first), static_cast<size_t>(count)), b);
      engine.evaluate(b);
    }
    quant::quantize(graph, calibration);
    graph.calibration = cat(manifest.name, "/", split, ", ", n, " samples");
    log.info(cat("calibrated on ", graph.calibration));
  }
  quant::save_graph(out, graph);
  const kernels::Int8Kernels int8_kernels = kernels::int8_kernels();
  std::cout << "quantize: " << ckpt.model_name << " -> " << out << " (" << (int8 ? "int8" : "fp32 folded") << ", "
            << graph.ops.size() << " ops; weights " << graph.weight_bytes() << " bytes, FP32 " << fp32_bytes
            << " bytes: " << std::fixed << std::setprecision(2)
            << static_cast<double>(fp32_bytes) / static_cast<double>(graph.weight_bytes()) << "x smaller; oneDNN ISA "
            << (int8 ? int8_kernels.describe() : int8_kernels.isa) << ")\n";
  return 0;
}

}  // namespace hpcnn::cli
