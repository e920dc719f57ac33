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
#include "cli/option_groups.hpp"
#include "cli/options.hpp"
#include "cli/train_args.hpp"
#include "comm/allreduce.hpp"
#include "comm/mpi_session.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "quant/inference_graph.hpp"
#include "train/checkpoint.hpp"
#include "train/preemption.hpp"
#include "train/train_options.hpp"
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

std::string safe_name(std::string s) {
  for (char& ch : s) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  }
  return s.substr(0, 48);
}

/// The text of an option's value as parsed (a switch as true / false).
std::string option_text(const po::variable_value& v) {
  if (const auto* b = boost::any_cast<bool>(&v.value())) return *b ? "true" : "false";
  return value_text(v.value());
}
}  // namespace

bool parse_train_args(const Args& args, train::TrainArgs& a, CommonConfig& common) {
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
  // Every option is a row of train::train_options(): declared, copied and
  // range-checked from it, with TrainConfig's defaults.
  const train::TrainArgs defaults;
  ComputeOptions compute{kernels::backend_name(defaults.config.backend), defaults.config.threads,
                         kernels::precision_name(defaults.config.precision), defaults.config.gpu};
  bool compute_declared = false;
  for (const train::TrainOption& o : train::train_options()) {
    if (o.name.empty()) continue;
    if (o.has(train::TrainOption::kSharedGroup)) {
      if (!compute_declared) add_compute_options(spec.options, compute, kAllComputeOptions);
      compute_declared = true;
      continue;
    }
    const std::string names = o.short_name != 0 ? o.name + "," + o.short_name : o.name;
    if (o.has(train::TrainOption::kSwitch)) {
      spec.options.add_options()(names.c_str(), po::bool_switch(), o.help.c_str());
      continue;
    }
    auto* value = po::value<std::string>();
    const std::string shown = o.text(defaults);
    if (!shown.empty()) value->default_value(shown);
    if (!o.value_name.empty()) value->value_name(o.value_name);
    spec.options.add_options()(names.c_str(), value, o.help.c_str());
  }
  if (!parse(spec, args, common)) return false;
  const po::variables_map& vm = spec.vm;
  const auto given = [&](const std::string& name) { return vm.count(name) != 0 && !vm[name].defaulted(); };
  // A value from --config FILE is refused naming the file, as Boost's own errors do.
  const auto on_command_line = [&](const train::TrainOption& o) {
    return std::any_of(args.begin(), args.end(), [&](const std::string& arg) {
      return arg == "--" + o.name || arg.rfind("--" + o.name + "=", 0) == 0 ||
             (o.short_name != 0 && arg.size() >= 2 && arg[0] == '-' && arg[1] == o.short_name);
    });
  };
  a = defaults;
  for (const train::TrainOption& o : train::train_options()) {
    if (o.name.empty() || !given(o.name)) continue;
    try {
      o.set(a, option_text(vm[o.name]));
    } catch (const UsageError& e) {
      if (common.config_file.empty() || on_command_line(o)) throw;
      throw UsageError("--config " + common.config_file + ": " + e.what());
    }
  }
  train::TrainConfig& c = a.config;
  if (!a.resume.empty()) {
    const std::string resume = a.resume.string();
    if (c.force) {
      // --force would silently win and delete the run --resume asks to continue.
      throw UsageError("--resume " + resume +
                       " and --force contradict each other: --resume continues the run, --force replaces it; give one");
    }
    if (given("out") && c.run_dir != a.resume) {
      throw UsageError("--resume " + resume + " and --out " + c.run_dir.string() + " name different run directories");
    }
    c.run_dir = a.resume;
    c.resume = true;
    // Every option not given on this command line takes the value the run
    // recorded in run.json; those given must not change results (the trainer
    // checks them against the checkpoint and names any that do).
    std::string text;
    try {
      text = read_text_file(a.resume / "run.json");
    } catch (const std::exception&) {
      throw UsageError("--resume " + resume + ": no run.json there: not an hpcnn run directory");
    }
    const nlohmann::json run = nlohmann::json::parse(text, nullptr, false);
    if (!run.is_object() || !run.contains("config") || !run["config"].is_object()) {
      throw UsageError("--resume " + resume + ": run.json is damaged (no config record)");
    }
    const nlohmann::json& config = run["config"];
    for (const train::TrainOption& o : train::train_options()) {
      if (!o.has(train::TrainOption::kRestored) || given(o.name)) continue;
      if (std::any_of(o.restore_unless.begin(), o.restore_unless.end(), given)) continue;
      if (!config.contains(o.resume_key) || config[o.resume_key].is_null()) continue;
      o.set(a, train::json_as_text(config[o.resume_key]));
    }
  }
  if (c.init_from.empty() && !c.init_until.empty()) {
    throw UsageError("--init-until " + c.init_until + " needs --init-from CHECKPOINT");
  }
  check_compute_options({kernels::backend_name(c.backend), c.threads, kernels::precision_name(c.precision), c.gpu},
                        kAllComputeOptions);
  return true;
}

int run_train(const Args& args) {
  train::TrainArgs a;
  CommonConfig common;
  if (!parse_train_args(args, a, common)) return 0;
  train::TrainConfig& c = a.config;
  const comm::MpiSession mpi;
  comm::Communicator world(MPI_COMM_WORLD, a.ranks_per_node);
  // Rank 0 names the run directory (a timestamp): every rank must use the same.
  std::string run_dir_text = c.run_dir.empty()
                                 ? (fs::path("results/runs") / (safe_name(c.model) + "-" + timestamp())).string()
                                 : c.run_dir.string();
  const fs::path run_dir(world.broadcast(run_dir_text));
  c.run_dir = run_dir;
  if (c.force && !c.init_from.empty() && path_within(c.init_from, run_dir)) {
    // --force clears the run directory before --init-from is read.
    throw UsageError("--init-from " + c.init_from.string() + " is inside the run directory " + run_dir.string() +
                     " that --force would clear first: copy it elsewhere, or choose another --out");
  }
  c.metrics = run_dir / "metrics.json";
  if (c.checkpoint.empty()) c.checkpoint = run_dir / "model.h5";

  // One voice per job: other ranks only report their own errors.
  const Logger log(world.rank() == 0 ? common.log_level() : LogLevel::kQuiet);
  if (world.rank() == 0 && world.size() > 1) {
    log.info(cat("data parallel: ", world.size(), " ranks on ", world.num_nodes(), " node(s), global batch ",
                 c.global_batch > 0 ? c.global_batch : c.batch * world.size(), ", all-reduce ",
                 comm::allreduce_name(c.allreduce)));
  }
  const train::TrainResult r = train::train(c, log, world);
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
      "index,target,predicted (regression; target_J,predicted_J when a sample has several targets).\n"
      "--threads on the CPU: a batch runs in chunks that fit the L2 cache; with at least one chunk per\n"
      "thread each thread runs whole chunks alone, otherwise each layer is split over the threads\n"
      "(docs/training.md; HPCNN_INFER_SCHEDULE=ops|chunks forces one, for measurements).";
  std::string ckpt_path, data_dir = "datasets/fashion-mnist", split = "test", sizes_text = "2,64,512,1024",
                         predictions_path;
  ComputeOptions compute;
  int repeats = 10;
  long long eval_batch = 500;
  bool force = false;
  // clang-format off
  spec.options.add_options()
      ("checkpoint,c", po::value<std::string>(&ckpt_path)->required()->value_name("FILE"), "checkpoint (model.h5)")
      ("data,d", po::value<std::string>(&data_dir)->default_value(data_dir)->value_name("DIR"), "dataset directory")
      ("split", po::value<std::string>(&split)->default_value(split), "split to evaluate")
      ("batch-sizes", po::value<std::string>(&sizes_text)->default_value(sizes_text),
       "batch sizes to time ('': no timing)")
      ("predictions", po::value<std::string>(&predictions_path)->value_name("FILE"),
       "write each sample's label or target, prediction and class probabilities to a CSV file")
      ("force", po::bool_switch(&force), "let --predictions replace an existing file hpcnn did not write")
      ("repeats", po::value<int>(&repeats)->default_value(repeats), "timed runs per batch size")
      ("eval-batch", po::value<long long>(&eval_batch)->default_value(eval_batch), "batch size for the accuracy pass");
  // clang-format on
  add_compute_options(spec.options, compute, kThreadsOption | kBackendOption);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_compute_options(compute, kThreadsOption | kBackendOption);
  const std::string& backend_name = compute.backend;
  const int threads = compute.threads;
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
  if (!predictions_path.empty()) {
    check_output_file("--predictions", predictions_path,
                      {{ckpt_path}, {data_dir}, force, {}, text_file_starting_with("index,")});
  }
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
