// hpcnn train | infer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "comm/allreduce.hpp"
#include "comm/mpi_session.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "quant/inference_graph.hpp"
#include "train/checkpoint.hpp"
#include "train/preemption.hpp"
#include "train/trainer.hpp"
#include "train/watchdog.hpp"

namespace fs = std::filesystem;

namespace hpcnn::cli {

namespace {
std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

/// `text` as a finite number, or a usage error naming the option.
double parse_number(const char* option, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v)) {
    throw UsageError(std::string("--") + option + ": '" + text + "' is not a number");
  }
  return v;
}

/// --checkpoint-every: "500" (steps), "30m" / "90s" / "2h" (wall time), or
/// both ("500,30m"); "0" or "off": no periodic checkpoints.
void parse_checkpoint_every(const std::string& text, train::TrainConfig& c) {
  c.checkpoint_every_steps = 0;
  c.checkpoint_every_seconds = 0;
  if (text == "off" || text == "0") return;
  for (const std::string& item : split_list(text, "checkpoint-every")) {
    size_t used = 0;
    long long n = 0;
    try {
      n = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const std::string unit = item.substr(used);
    const double scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
    if (used == 0 || n < 1 || n > (1LL << 40) || (!unit.empty() && scale == 0)) {
      throw UsageError("--checkpoint-every: '" + item + "' is not N (steps) or N followed by s, m or h (wall time)");
    }
    if (unit.empty()) {
      c.checkpoint_every_steps = n;
    } else {
      c.checkpoint_every_seconds = static_cast<double>(n) * scale;
    }
  }
}

/// --resume DIR: every option not given on this command line takes the value
/// the run recorded in DIR/run.json; those given must not change results (the
/// trainer checks them against the checkpoint and names any that do).
void apply_recorded_config(const fs::path& dir, const po::variables_map& vm,
                           const std::function<void(const std::string&, const nlohmann::json&)>& set) {
  std::string text;
  try {
    text = read_text_file(dir / "run.json");
  } catch (const std::exception&) {
    throw UsageError("--resume " + dir.string() + ": no run.json there: not an hpcnn run directory");
  }
  const nlohmann::json run = nlohmann::json::parse(text, nullptr, false);
  if (!run.is_object() || !run.contains("config") || !run["config"].is_object()) {
    throw UsageError("--resume " + dir.string() + ": run.json is damaged (no config record)");
  }
  const nlohmann::json& config = run["config"];
  static const std::pair<const char*, const char*> kOptions[] = {{"data", "data"},
                                                                 {"model", "model"},
                                                                 {"epochs", "epochs"},
                                                                 {"allreduce", "allreduce_requested"},
                                                                 {"bucket-mb", "bucket_mb"},
                                                                 {"compute-only", "compute_only"},
                                                                 {"optimizer", "optimizer"},
                                                                 {"lr", "lr"},
                                                                 {"momentum", "momentum"},
                                                                 {"adam-epsilon", "adam_epsilon"},
                                                                 {"seed", "seed"},
                                                                 {"threads", "threads"},
                                                                 {"backend", "backend"},
                                                                 {"validation-split", "validation_split"},
                                                                 {"max-steps", "max_steps"},
                                                                 {"eval-batch", "eval_batch"},
                                                                 {"sampling", "sampling"},
                                                                 {"shuffle-window", "shuffle_window"},
                                                                 {"augment", "augment"},
                                                                 {"precision", "precision"},
                                                                 {"allow-tf32", "allow_tf32"},
                                                                 {"freeze", "freeze"},
                                                                 {"init-from", "init_from"},
                                                                 {"init-until", "init_until"}};
  auto given = [&](const char* option) { return vm.count(option) != 0 && !vm[option].defaulted(); };
  for (const auto& [option, key] : kOptions) {
    if (!given(option) && config.contains(key)) set(option, config[key]);
  }
  // The global batch is what the trajectory depends on: kept unless the batch is given.
  if (!given("batch") && !given("global-batch") && config.contains("global_batch")) {
    set("global-batch", config["global_batch"]);
  }
}

std::string safe_name(std::string s) {
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  }
  return s.substr(0, 48);
}
}  // namespace

int run_train(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn train";
  spec.summary =
      "Train a model on a dataset, on one process or data-parallel under mpirun. Prints a progress line,\n"
      "one line per epoch and a final metrics line; writes metrics.json and a checkpoint (model.h5)\n"
      "into the run directory. Strong scaling: --global-batch G splits G samples per step over the\n"
      "ranks; weak scaling: --batch B per rank.";
  spec.details =
      "Examples:\n"
      "  hpcnn train --model keras-cnn --epochs 10 --batch 128 --threads 2\n"
      "  hpcnn train --model tiny-cnn --batch 32 --data datasets/fashion-mnist\n"
      "  hpcnn train --model solar-cnn --data datasets/solar-maps --epochs 3\n"
      "  mpirun -n 2 hpcnn train --model keras-cnn --global-batch 128 --threads 1 --allreduce ring\n"
      "Models: see `hpcnn summary --help`.\n"
      "Long jobs: a run directory holds one run. Running the same command again continues an unfinished\n"
      "run from its newest checkpoint; SIGUSR1 or SIGTERM stops every rank after the current step with a\n"
      "checkpoint. Exit status: 0 done, 1 error, 2 usage error, 3 the watchdog ended a stalled job,\n"
      "75 stopped on a signal (resumable).";
  train::TrainConfig c;
  std::string data_dir = "datasets/fashion-mnist", out, optimizer = "adam", checkpoint;
  std::string seed = std::to_string(c.seed);
  std::string allreduce = "auto", bucket_text = "auto", backend = "onednn", precision = "fp32";
  long long batch = 128, global_batch = 0, max_steps = 0, eval_batch = 500, cache_mb = 4096;
  int ranks_per_node = 0;
  std::string resume, checkpoint_every = "30m", verify_data = "auto", sampling = "global", init_from;
  std::string augment = "off";
  // clang-format off
  spec.options.add_options()
      ("data,d", po::value<std::string>(&data_dir)->default_value(data_dir)->value_name("DIR"), "dataset directory")
      ("model,m", po::value<std::string>(&c.model)->default_value(c.model)->value_name("NAME|STRING"), "preset or model string")
      ("epochs,e", po::value<int>(&c.epochs)->default_value(1), "training epochs (1..100000)")
      ("batch,b", po::value<long long>(&batch)->default_value(batch), "batch size per rank (weak scaling)")
      ("global-batch", po::value<long long>(&global_batch)->default_value(0),
       "samples per step over all ranks (strong scaling; 0: batch x ranks)")
      ("allreduce", po::value<std::string>(&allreduce)->default_value(allreduce),
       comm::allreduce_choices_help().c_str())
      ("bucket-mb", po::value<std::string>(&bucket_text)->default_value(bucket_text),
       "start all-reducing once this many MB of gradients are final, while backward goes on (0: after backward;\n"
       "auto: 1 when the ranks span several nodes, else 0)")
      ("compute-only", po::bool_switch(&c.compute_only),
       "measurement only: skip the gradient exchange (the ranks then train apart); the baseline for overlap")
      ("ranks-per-node", po::value<int>(&ranks_per_node)->default_value(0),
       "pretend nodes of this many ranks for hier/auto (0: real nodes)")
      ("optimizer", po::value<std::string>(&optimizer)->default_value(optimizer), "adam | sgd")
      ("lr", po::value<double>(&c.optimizer.lr)->default_value(0.001), "learning rate")
      ("momentum", po::value<double>(&c.optimizer.momentum)->default_value(0.0), "SGD momentum [0, 1)")
      ("adam-epsilon", po::value<double>(&c.optimizer.epsilon)->default_value(1e-7), "Adam epsilon (Keras 2: 1e-7)")
      ("seed", po::value<std::string>(&seed)->default_value(seed)->value_name("N"), "seed for initialisation, shuffling and dropout")
      ("threads,t", po::value<int>(&c.threads)->default_value(0), "compute threads (0: OMP_NUM_THREADS or all cores)")
      ("backend", po::value<std::string>(&backend)->default_value(backend), kernels::backend_choices().c_str())
      ("precision", po::value<std::string>(&precision)->default_value(precision),
       "convolution arithmetic: fp32 (default, bit-reproducible) | bf16 (onednn on CPUs with AVX512-BF16 or AMX; "
       "weights, optimizer and dense layers stay fp32)")
      ("gpu", po::value<int>(&c.gpu)->default_value(-1),
       "cuda: the GPU of this rank (-1: the rank's index on its node modulo the visible GPUs)")
      ("allow-tf32", po::bool_switch(&c.allow_tf32),
       "cuda: let cuDNN and cuBLAS use TF32 tensor cores (faster, 10-bit mantissa products; off: FP32)")
      ("validation-split", po::value<double>(&c.validation_split)->default_value(0.0),
       "hold out the last fraction of train for validation when the dataset has no validation split")
      ("max-steps", po::value<long long>(&max_steps)->default_value(0), "stop after this many steps (0: all epochs)")
      ("eval-batch", po::value<long long>(&eval_batch)->default_value(eval_batch), "batch size for evaluation")
      ("out,o", po::value<std::string>(&out)->value_name("DIR"), "run directory [results/runs/MODEL-TIMESTAMP]")
      ("checkpoint", po::value<std::string>(&checkpoint)->value_name("FILE"), "checkpoint path [RUN_DIR/model.h5]")
      ("init-from", po::value<std::string>(&init_from)->value_name("CHECKPOINT"),
       "transfer learning: start the leading layers that match (same layer on the same input) from this "
       "checkpoint's weights; the rest start fresh")
      ("init-until", po::value<std::string>(&c.init_until)->value_name("LAYER"),
       "with --init-from: take layers 1..LAYER (a number or an @NAME of the model string, e.g. backbone) and "
       "fail if one does not match")
      ("freeze", po::value<std::string>(&c.freeze)->value_name("LAYER"),
       "freeze layers 1..LAYER (a number or an @NAME): no gradient, no optimizer state, not all-reduced; "
       "their batch norms use their running statistics")
      ("trace", po::bool_switch(&c.trace),
       "also write a Chrome-trace JSON per rank (RUN_DIR/trace/): each step's phases and, inside them, "
       "each layer's forward and backward (synchronises after every layer)")
      ("resume", po::value<std::string>(&resume)->value_name("RUN_DIR"),
       "continue the run in RUN_DIR from its newest checkpoint; options not given take the values it recorded\n"
       "(a run directory holding an unfinished run is resumed without this, by the same command)")
      ("force", po::bool_switch(&c.force),
       "replace the run found in --out (only hpcnn's own files are removed)")
      ("checkpoint-every", po::value<std::string>(&checkpoint_every)->default_value(checkpoint_every)->value_name("N|Ts"),
       "resumable checkpoint every N steps and/or after T of wall time (30s, 10m, 2h; '500,10m'; off);\n"
       "kept in RUN_DIR/checkpoints/")
      ("keep-checkpoints", po::value<int>(&c.keep_checkpoints)->default_value(c.keep_checkpoints),
       "periodic checkpoints kept (the newest)")
      ("timeout", po::value<double>(&c.timeout_s)->default_value(c.timeout_s)->value_name("SECONDS"),
       "watchdog: a rank without progress this long ends the job (exit 3), naming the rank and phase that\n"
       "stalled (0: off)")
      ("sampling", po::value<std::string>(&sampling)->default_value(sampling),
       "global: one permutation cut into global batches, rank-count independent | local: each rank its own\n"
       "shards (balanced by samples), shuffled in windows of blocks; I/O and memory per rank shrink as 1/ranks")
      ("shuffle-window", po::value<int>(&c.shuffle_window)->default_value(c.shuffle_window)->value_name("BLOCKS"),
       "local sampling: blocks of 1024 samples whose samples are shuffled together")
      ("augment", po::value<std::string>(&augment)->default_value(augment)->value_name("SPEC"),
       "transform training images afresh each epoch, keyed by (seed, epoch, sample): off | on (rotate=10,\n"
       "scale=0.1,shift=0.1,stroke=0.3,noise=0.02) | KEY=VALUE,... from all-off ('on,noise=0': the defaults\n"
       "without noise). rotate: degrees; scale: relative; shift: fraction of the side; stroke: probability of a\n"
       "3x3 dilation or erosion; noise: std in input units (8-bit data is 0..1)")
      ("cache-mb", po::value<long long>(&cache_mb)->default_value(cache_mb),
       "memory per rank for training data: its shards are preloaded when they fit, else read through a cache of\n"
       "this size")
      ("prefetch", po::value<int>(&c.prefetch)->default_value(c.prefetch)->value_name("BATCHES"),
       "batches read ahead on a background thread (0: read inside the step)")
      ("verify-data", po::value<std::string>(&verify_data)->default_value(verify_data),
       "check the shards' SHA-256 before training: auto (when the training data fits in memory) | always | never");
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  if (!resume.empty() && c.force) {
    // --force would silently win and delete the run --resume asks to continue.
    throw UsageError("--resume " + resume + " and --force contradict each other: --resume continues the run, --force " +
                     "replaces it; give one");
  }
  if (!resume.empty()) {
    if (!out.empty() && fs::path(out) != fs::path(resume)) {
      throw UsageError("--resume " + resume + " and --out " + out + " name different run directories");
    }
    out = resume;
    c.resume = true;
    try {
      apply_recorded_config(resume, spec.vm, [&](const std::string& option, const nlohmann::json& v) {
        if (option == "data")
          data_dir = v.get<std::string>();
        else if (option == "model")
          c.model = v.get<std::string>();
        else if (option == "epochs")
          c.epochs = v.get<int>();
        else if (option == "allreduce")
          allreduce = v.get<std::string>();
        else if (option == "bucket-mb")
          bucket_text = v.is_number() ? cat(v.get<double>()) : v.get<std::string>();
        else if (option == "compute-only")
          c.compute_only = v.get<bool>();
        else if (option == "optimizer")
          optimizer = v.get<std::string>();
        else if (option == "lr")
          c.optimizer.lr = v.get<double>();
        else if (option == "momentum")
          c.optimizer.momentum = v.get<double>();
        else if (option == "adam-epsilon")
          c.optimizer.epsilon = v.get<double>();
        else if (option == "seed")
          seed = std::to_string(v.get<uint64_t>());
        else if (option == "threads")
          c.threads = v.get<int>();
        else if (option == "backend")
          backend = v.get<std::string>();
        else if (option == "precision")
          precision = v.get<std::string>();
        else if (option == "allow-tf32")
          c.allow_tf32 = v.get<bool>();
        else if (option == "validation-split")
          c.validation_split = v.get<double>();
        else if (option == "max-steps")
          max_steps = v.get<long long>();
        else if (option == "eval-batch")
          eval_batch = v.get<long long>();
        else if (option == "global-batch")
          global_batch = v.get<long long>();
        else if (option == "sampling")
          sampling = v.get<std::string>();
        else if (option == "shuffle-window" && !v.is_null())
          c.shuffle_window = v.get<int>();
        else if (option == "augment")
          augment = v.get<std::string>();
        else if (option == "freeze")
          c.freeze = v.get<std::string>();
        else if (option == "init-from")
          init_from = v.get<std::string>();
        else if (option == "init-until")
          c.init_until = v.get<std::string>();
      });
    } catch (const nlohmann::json::exception& e) {
      throw UsageError("--resume " + resume + ": run.json's config record is damaged (" + e.what() + ")");
    }
  }
  parse_checkpoint_every(checkpoint_every, c);
  require_range("keep-checkpoints", c.keep_checkpoints, 1, 1000000);
  c.sampling = data::parse_sampling_mode(sampling);
  require_range("shuffle-window", c.shuffle_window, 1, 1 << 20);
  c.augment = data::parse_augment(augment);
  require_range<long long>("cache-mb", cache_mb, 0, 1LL << 30);
  c.cache_mb = cache_mb;
  require_range("prefetch", c.prefetch, 0, 1024);
  require_range("timeout", c.timeout_s, 0.0, 1e7);
  if (verify_data == "auto")
    c.verify_data = train::TrainConfig::VerifyData::kAuto;
  else if (verify_data == "always")
    c.verify_data = train::TrainConfig::VerifyData::kAlways;
  else if (verify_data == "never")
    c.verify_data = train::TrainConfig::VerifyData::kNever;
  else
    throw UsageError("--verify-data must be auto, always or never (got '" + verify_data + "')");
  require_range("epochs", c.epochs, 1, 100000);
  require_range<long long>("batch", batch, 1, 1 << 20);
  require_range<long long>("global-batch", global_batch, 0, 1 << 24);
  require_range("ranks-per-node", ranks_per_node, 0, 1 << 20);
  c.allreduce = comm::parse_allreduce(allreduce);  // usage error before any work
  if (bucket_text != "auto") {
    c.bucket_mb = parse_number("bucket-mb", bucket_text);
    require_range("bucket-mb", c.bucket_mb, 0.0, 1e6);
  }
  require_range<long long>("max-steps", max_steps, 0, 1LL << 40);
  require_range<long long>("eval-batch", eval_batch, 1, 1 << 20);
  require_range("lr", c.optimizer.lr, 1e-12, 1e6);
  require_range("momentum", c.optimizer.momentum, 0.0, 0.999999);
  require_range_above("adam-epsilon", c.optimizer.epsilon, 0.0, 1.0);
  require_range("threads", c.threads, 0, 4096);
  require_range("gpu", c.gpu, -1, 1023);
  require_range("validation-split", c.validation_split, 0.0, 0.99);
  c.optimizer.kind = model::parse_optimizer(optimizer);
  c.backend = kernels::parse_backend(backend);
  c.precision = kernels::parse_precision(precision);
  c.data_dir = data_dir;
  if (!init_from.empty()) {
    if (!fs::is_regular_file(init_from)) throw UsageError("--init-from " + init_from + ": no such checkpoint file");
    c.init_from = fs::absolute(init_from);
  } else if (!c.init_until.empty()) {
    throw UsageError("--init-until " + c.init_until + " needs --init-from CHECKPOINT");
  }
  c.seed = parse_unsigned("seed", seed);
  c.batch = batch;
  c.global_batch = global_batch;
  c.max_steps = max_steps;
  c.eval_batch = eval_batch;
  const comm::MpiSession mpi;
  comm::Communicator world(MPI_COMM_WORLD, ranks_per_node);
  // Rank 0 names the run directory (a timestamp): every rank must use the same.
  std::string run_dir_text =
      out.empty() ? (fs::path("results/runs") / (safe_name(c.model) + "-" + timestamp())).string() : out;
  const fs::path run_dir(world.broadcast(run_dir_text));
  c.run_dir = run_dir;
  if (c.force && !c.init_from.empty() && path_within(c.init_from, run_dir)) {
    // --force clears the run directory before --init-from is read.
    throw UsageError("--init-from " + c.init_from.string() + " is inside the run directory " + run_dir.string() +
                     " that --force would clear first: copy it elsewhere, or choose another --out");
  }
  c.metrics = run_dir / "metrics.json";
  c.checkpoint = checkpoint.empty() ? run_dir / "model.h5" : fs::path(checkpoint);

  // One voice per job: other ranks only report their own errors.
  const Logger log(world.rank() == 0 ? common.log_level() : LogLevel::kQuiet);
  if (world.rank() == 0 && world.size() > 1) {
    log.info(cat("data parallel: ", world.size(), " ranks on ", world.num_nodes(), " node(s), global batch ",
                 c.global_batch > 0 ? c.global_batch : c.batch * world.size(), ", all-reduce ", allreduce));
  }
  const train::TrainResult r = train::train(c, log, &world);
  if (r.preempted_by != 0) {
    if (world.rank() == 0) {
      std::cout << "preempted: " << train::signal_name(r.preempted_by) << " after global step " << r.global_steps
                << "; checkpoint in " << (c.run_dir / "checkpoints").string() << "; resume with the same command or "
                << "hpcnn train --resume " << c.run_dir.string() << "\n";
    }
    return train::kPreemptedExitCode;
  }
  if (world.rank() != 0) return 0;
  std::cout << std::fixed << std::setprecision(4) << "result: model " << c.model << ", " << r.epochs.size()
            << " epoch(s), train loss " << (r.epochs.empty() ? 0.0 : r.epochs.back().loss);
  if (r.test) {
    std::cout << ", test loss " << r.test->loss;
    if (r.test->accuracy >= 0) std::cout << ", test accuracy " << r.test->accuracy;
  }
  std::cout << std::setprecision(1) << ", " << r.samples_per_second << " samples/s (" << r.train_seconds
            << " s training)\n"
            << "metrics: " << c.metrics.string() << "\ncheckpoint: " << c.checkpoint.string() << "\n";
  return 0;
}

int run_infer(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn infer";
  spec.summary =
      "Evaluate a checkpoint on a dataset split (accuracy or MSE), then time inference per batch size:\n"
      "median latency of one batch over --repeats runs after a warm-up. The checkpoint is a training\n"
      "checkpoint (model.h5) or an inference file from hpcnn quantize (FP32 folded or int8).";
  spec.details =
      "Examples:\n  hpcnn infer --checkpoint results/runs/keras-cnn-.../model.h5 --batch-sizes 2,64,512,1024\n"
      "  hpcnn infer -c model.h5 --predictions test.csv --batch-sizes ''   # one CSV row per sample, no timing\n"
      "  hpcnn infer -c model-int8.h5 --data datasets/parts --batch-sizes 1,64,512   # an int8 model\n"
      "--predictions CSV columns (docs/formats.md): index,label,predicted,p_0..p_K-1 (classification) or\n"
      "index,target,predicted (regression; target_J,predicted_J when a sample has several targets).";
  std::string ckpt_path, data_dir = "datasets/fashion-mnist", split = "test", sizes_text = "2,64,512,1024",
                         backend_name = "onednn", predictions_path;
  int threads = 0, repeats = 10;
  long long eval_batch = 500;
  // clang-format off
  spec.options.add_options()
      ("checkpoint,c", po::value<std::string>(&ckpt_path)->required()->value_name("FILE"), "checkpoint (model.h5)")
      ("data,d", po::value<std::string>(&data_dir)->default_value(data_dir)->value_name("DIR"), "dataset directory")
      ("split", po::value<std::string>(&split)->default_value(split), "split to evaluate")
      ("batch-sizes", po::value<std::string>(&sizes_text)->default_value(sizes_text),
       "batch sizes to time ('': no timing)")
      ("predictions", po::value<std::string>(&predictions_path)->value_name("FILE"),
       "write each sample's label or target, prediction and class probabilities to a CSV file")
      ("repeats", po::value<int>(&repeats)->default_value(repeats), "timed runs per batch size")
      ("eval-batch", po::value<long long>(&eval_batch)->default_value(eval_batch), "batch size for the accuracy pass")
      ("threads,t", po::value<int>(&threads)->default_value(0), "compute threads (0: default)")
      ("backend", po::value<std::string>(&backend_name)->default_value(backend_name), kernels::backend_choices().c_str());
  // clang-format on
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  require_range("repeats", repeats, 1, 100000);
  require_range<long long>("eval-batch", eval_batch, 1, 1 << 20);
  std::vector<int64_t> sizes;
  for (const std::string& s : sizes_text.empty() ? std::vector<std::string>{} : split_list(sizes_text, "batch-sizes")) {
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > (1 << 20)) throw UsageError("--batch-sizes: bad batch size '" + s + "'");
    sizes.push_back(v);
  }
  // --predictions: one CSV row per sample of the split, in index order
  // (docs/formats.md, "Predictions CSV"), written whole and renamed into place.
  // The model, whichever kind of file holds it: evaluate one batch (its
  // logits into `out` when given).
  using Forward = std::function<kernels::LossResult(const data::Batch&, std::vector<float>*)>;
  auto write_predictions = [](const Forward& forward, int64_t outs, data::SplitReader& reader, int64_t rows_per_batch,
                              const fs::path& path) {
    const data::Manifest& manifest = reader.manifest();
    const bool classification = manifest.task == data::Task::kClassification;
    const int64_t targets = classification ? 0 : manifest.target_dim;
    std::ostringstream csv;
    csv << std::setprecision(9);
    if (classification) {
      csv << "index,label,predicted";
      for (int64_t k = 0; k < outs; ++k) csv << ",p_" << k;
    } else if (targets == 1 && outs == 1) {
      csv << "index,target,predicted";
    } else {
      csv << "index";
      for (int64_t k = 0; k < targets; ++k) csv << ",target_" << k;
      for (int64_t k = 0; k < outs; ++k) csv << ",predicted_" << k;
    }
    csv << "\n";
    std::vector<float> out;
    std::vector<double> p(static_cast<size_t>(outs));
    data::Batch batch;
    for (int64_t first = 0; first < reader.num_samples(); first += rows_per_batch) {
      const int64_t n = std::min(rows_per_batch, reader.num_samples() - first);
      std::vector<int64_t> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), first);
      reader.read(idx, batch);
      forward(batch, &out);
      HPCNN_CHECK(static_cast<int64_t>(out.size()) == n * outs, "infer: the model gave ", out.size(), " outputs for ",
                  n, " samples of ", outs);
      for (int64_t i = 0; i < n; ++i) {
        const float* z = out.data() + i * outs;
        csv << batch.indices[static_cast<size_t>(i)];
        if (classification) {
          // Softmax in double (as hpcnn predict does); argmax of the logits.
          const float zmax = *std::max_element(z, z + outs);
          double sum = 0;
          for (int64_t k = 0; k < outs; ++k) sum += p[static_cast<size_t>(k)] = std::exp(double(z[k]) - zmax);
          const auto best = std::max_element(z, z + outs) - z;
          csv << "," << batch.labels[static_cast<size_t>(i)] << "," << best << std::setprecision(6);
          for (int64_t k = 0; k < outs; ++k) csv << "," << p[static_cast<size_t>(k)] / sum;
          csv << std::setprecision(9);
        } else {
          for (int64_t k = 0; k < targets; ++k) csv << "," << batch.targets[static_cast<size_t>(i * targets + k)];
          for (int64_t k = 0; k < outs; ++k) csv << "," << z[k];
        }
        csv << "\n";
      }
    }
    write_file_atomic(path, csv.str());
  };
  if (!predictions_path.empty()) check_output_path("--predictions", predictions_path, {ckpt_path}, {data_dir});
  const Logger log(common.log_level());
  const data::Manifest manifest = data::load_manifest(data_dir);
  const model::Shape input{manifest.sample_shape[0], manifest.sample_shape[1], manifest.sample_shape[2]};
  data::SplitReader reader(data_dir, manifest, split);
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<model::Model> net;
  std::optional<quant::Graph> graph;
  std::unique_ptr<quant::Engine> engine;
  Forward forward;
  int64_t outs = 0;
  if (quant::is_inference_file(ckpt_path)) {
    // hpcnn quantize's file: the folded graph on the inference engine (oneDNN).
    if (backend_name != "onednn") throw UsageError("--backend " + backend_name + ": inference files run on onednn");
    graph = quant::load_graph(ckpt_path);
    HPCNN_CHECK(input == graph->input, ckpt_path, " expects input ", graph->input.str(), " but dataset '",
                manifest.name, "' has samples of ", input.str());
    engine = std::make_unique<quant::Engine>(*graph, threads);
    forward = [&](const data::Batch& b, std::vector<float>* out) { return engine->evaluate(b, out); };
    outs = graph->ops.back().out.size();
    kernels::LossResult sum;
    data::Batch batch;
    for (int64_t first = 0; first < reader.num_samples(); first += eval_batch) {
      const int64_t n = std::min<int64_t>(eval_batch, reader.num_samples() - first);
      std::vector<int64_t> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), first);
      reader.read(idx, batch);
      const kernels::LossResult r = engine->evaluate(batch);
      sum.loss_sum += r.loss_sum;
      sum.correct += r.correct;
    }
    const kernels::Int8Kernels int8_kernels = kernels::int8_kernels();
    std::cout << std::fixed << std::setprecision(4) << "model " << graph->model_name << " ("
              << (graph->int8 ? "int8" : "fp32 folded") << ", " << graph->ops.size() << " ops, "
              << graph->weight_bytes() << " weight bytes; oneDNN ISA "
              << (graph->int8 ? int8_kernels.describe() : int8_kernels.isa) << ") on " << manifest.name << "/" << split
              << ": " << reader.num_samples() << " samples, loss "
              << sum.loss_sum / static_cast<double>(reader.num_samples());
    if (graph->loss == model::LossKind::kSoftmaxCrossEntropy)
      std::cout << ", accuracy " << static_cast<double>(sum.correct) / static_cast<double>(reader.num_samples());
    std::cout << "\n";
    for (const std::string& line : engine->implementations()) log.debug(line);
  } else {
    backend = kernels::make_backend(kernels::parse_backend(backend_name), threads);
    const train::Checkpoint ckpt = train::load_checkpoint(ckpt_path);
    HPCNN_CHECK(input == ckpt.input, "checkpoint ", ckpt_path, " expects input ", ckpt.input.str(), " but dataset '",
                manifest.name, "' has samples of ", input.str());
    net = train::restore_model(ckpt, *backend);
    train::check_model_fits(net->spec(), ckpt.loss, manifest, "checkpoint " + ckpt_path);
    forward = [&](const data::Batch& b, std::vector<float>* out) { return net->evaluate(b, out); };
    outs = net->spec().output().size();
    const train::EvalMetrics m = train::evaluate(*net, reader, 0, reader.num_samples(), eval_batch);
    std::cout << std::fixed << std::setprecision(4) << "model " << ckpt.model_name << " (" << net->num_params()
              << " params, epoch " << ckpt.epoch << ") on " << manifest.name << "/" << split << ": " << m.samples
              << " samples, loss " << m.loss;
    if (m.accuracy >= 0) std::cout << ", accuracy " << m.accuracy;
    std::cout << "\n";
  }
  if (!predictions_path.empty()) {
    write_predictions(forward, outs, reader, eval_batch, predictions_path);
    std::cout << "predictions: " << predictions_path << " (" << reader.num_samples() << " rows)\n";
  }
  if (sizes.empty()) return 0;
  std::cout << "\n"
            << std::setw(10) << "batch" << std::setw(14) << "median ms" << std::setw(14) << "min ms" << std::setw(16)
            << "samples/s"
            << "\n";
  for (int64_t b : sizes) {
    // The first b samples of the split (wrapping around when the split is smaller).
    std::vector<int64_t> idx(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) idx[static_cast<size_t>(i)] = i % reader.num_samples();
    data::Batch batch;
    reader.read(idx, batch);
    forward(batch, nullptr);  // warm-up: primitive creation, first touch
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      forward(batch, nullptr);
      if (backend) backend->synchronize();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    std::cout << std::setw(10) << b << std::setw(14) << std::setprecision(3) << median << std::setw(14) << ms.front()
              << std::setw(16) << std::setprecision(0) << static_cast<double>(b) / (median / 1000.0) << "\n";
  }
  return 0;
}

}  // namespace hpcnn::cli
