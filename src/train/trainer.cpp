// The training loop.
#include "train/trainer.hpp"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <numeric>
#include <optional>

#include "comm/allreduce.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/nccl/nccl_info.hpp"
#include "core/build_info_access.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/partition.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"
#include "data/prefetch.hpp"
#include "data/sampler.hpp"
#include "timing/timing.hpp"
#include "train/checkpoint.hpp"
#include "train/preemption.hpp"
#include "train/ranks_agree.hpp"
#include "train/run_dir.hpp"
#include "train/watchdog.hpp"

#include <unistd.h>

#include "device_info.hpp"

namespace hpcnn::train {

using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Adds each rank's loss sum and correct count into the job's totals (in place).
void sum_over_ranks(comm::Communicator* comm, double& loss_sum, int64_t& correct) {
  if (comm == nullptr || comm->size() == 1) return;
  double sums[2] = {loss_sum, static_cast<double>(correct)};
  comm->sum(sums, 2);
  loss_sum = sums[0];
  correct = static_cast<int64_t>(sums[1]);
}

std::string eta_text(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}
}  // namespace

nlohmann::json EvalMetrics::to_json() const {
  nlohmann::json j{{"samples", samples}, {"loss", loss}, {"seconds", seconds}};
  if (accuracy >= 0) j["accuracy"] = accuracy;
  return j;
}

nlohmann::json EpochMetrics::to_json() const {
  nlohmann::json j{{"epoch", epoch}, {"steps", steps},     {"samples", samples},
                   {"loss", loss},   {"seconds", seconds}, {"samples_per_second", samples_per_second}};
  if (accuracy >= 0) j["accuracy"] = accuracy;
  if (validation) j["validation"] = validation->to_json();
  return j;
}

nlohmann::json TrainConfig::to_json() const {
  return {
      {"data", data_dir.string()},
      {"model", model},
      {"epochs", epochs},
      {"batch", batch},
      {"global_batch", global_batch},
      {"allreduce", comm::allreduce_name(allreduce)},
      {"bucket_mb", bucket_mb < 0 ? nlohmann::json("auto") : nlohmann::json(bucket_mb)},
      {"compute_only", compute_only},
      {"optimizer", model::optimizer_name(optimizer.kind)},
      {"lr", optimizer.lr},
      {"beta1", optimizer.beta1},
      {"beta2", optimizer.beta2},
      {"adam_epsilon", optimizer.epsilon},
      {"momentum", optimizer.momentum},
      {"seed", seed},
      {"threads", threads},
      {"backend", kernels::backend_name(backend)},
      {"precision", kernels::precision_name(precision)},
      {"allow_tf32", allow_tf32},
      {"validation_split", validation_split},
      {"sampling", data::sampling_mode_name(sampling)},
      {"shuffle_window", sampling == data::SamplingMode::kLocal ? nlohmann::json(shuffle_window) : nlohmann::json()},
      {"augment", augment.to_string()},
      {"max_steps", max_steps},
      {"eval_batch", eval_batch},
      {"evaluate_test", evaluate_test},
      {"init_from", init_from.string()},
      {"init_until", init_until},
      {"freeze", freeze}};
}

namespace {
/// The configuration as run: to_json() with what the run resolved (the
/// world size, the global batch, the all-reduce that ran instead of `auto`).
nlohmann::json resolved_config(const TrainConfig& c, int world, int64_t global_batch, const std::string& allreduce,
                               double bucket_mb) {
  nlohmann::json j = c.to_json();
  j["bucket_mb"] = bucket_mb;
  j["allreduce_requested"] = j["allreduce"];
  j["allreduce"] = allreduce;
  j["global_batch"] = global_batch;
  j["world_size"] = world;
  return j;
}
}  // namespace

nlohmann::json TrainResult::to_json(const TrainConfig& c) const {
  nlohmann::json epochs_json = nlohmann::json::array();
  for (const EpochMetrics& e : epochs) epochs_json.push_back(e.to_json());
  nlohmann::json j{
      {"format", "hpcnn-metrics"},
      {"version", 1},
      {"hpcnn", version_string()},
      {"config", resolved_config(c, world_size, global_batch, allreduce, bucket_mb)},
      {"model", model},
      {"params", params},
      {"epochs", epochs_json},
      {"train_seconds", train_seconds},
      {"samples_per_second", samples_per_second},
      {"step_losses", step_losses},
      {"global_steps", global_steps},
  };
  if (resumed_from_step >= 0) j["resumed_from_step"] = resumed_from_step;
  if (!ranks.empty()) j["ranks"] = ranks;
  if (!device_transfers.is_null()) j["device_transfers"] = device_transfers;
  if (test) j["test"] = test->to_json();
  return j;
}

void check_model_fits(const model::ModelSpec& spec, model::LossKind loss, const data::Manifest& manifest,
                      const std::string& who) {
  const bool classification = manifest.task == data::Task::kClassification;
  HPCNN_CHECK(classification == (loss == model::LossKind::kSoftmaxCrossEntropy), who, " is a ",
              classification ? "regression" : "classification", " model, dataset '", manifest.name, "' is ",
              data::task_name(manifest.task));
  const int64_t outputs = spec.output().size();
  const int64_t want = classification ? manifest.num_classes : manifest.target_dim;
  HPCNN_CHECK(outputs == want, who, " has ", outputs, " outputs but dataset '", manifest.name, "' needs ", want,
              classification ? " (one per class)" : " (one per target)");
}

EvalMetrics evaluate(model::Model& model, data::SplitReader& reader, int64_t first, int64_t count, int64_t batch,
                     comm::Communicator* comm, const std::function<void()>& on_batch) {
  EvalMetrics m;
  m.samples = count;
  const auto start = Clock::now();
  double loss = 0;
  int64_t correct = 0;
  data::Batch b;
  std::vector<int64_t> idx;
  // Each rank evaluates its block of the range; the sums are combined below.
  const auto [mine_first, mine_last] =
      comm != nullptr ? block_range(count, comm->rank(), comm->size()) : std::pair<int64_t, int64_t>{0, count};
  for (int64_t at = first + mine_first; at < first + mine_last; at += batch) {
    const int64_t n = std::min(batch, first + mine_last - at);
    idx.resize(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), at);
    reader.read(idx, b);
    const kernels::LossResult r = model.evaluate(b);
    loss += r.loss_sum;
    correct += r.correct;
    if (on_batch) on_batch();
  }
  sum_over_ranks(comm, loss, correct);
  m.loss = count > 0 ? loss / static_cast<double>(count) : 0.0;
  if (model.loss() == model::LossKind::kSoftmaxCrossEntropy && count > 0) {
    m.accuracy = static_cast<double>(correct) / static_cast<double>(count);
  }
  m.seconds = seconds_since(start);
  return m;
}

namespace {
std::string now_text() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
  return text;
}

/// RUN_DIR/run.json's contents: what ran, where and with what (every rank
/// takes part: the host names are gathered; only rank 0's result is whole).
nlohmann::json run_manifest(const TrainConfig& c, comm::Communicator* comm, int64_t global_batch,
                            comm::AllreduceAlgo algo, double bucket_mb, const kernels::Backend& backend) {
  const std::string host = host_name();
  const int world = comm != nullptr ? comm->size() : 1;
  const std::vector<std::string> hosts = comm != nullptr ? comm->gather(host) : std::vector<std::string>{host};
  if (comm != nullptr && comm->rank() != 0) return nlohmann::json::object();
  nlohmann::json device{{"backend", backend.name()},
                        {"kind", backend.device() == kernels::DeviceKind::kGpu ? "gpu" : "cpu"}};
  if (backend.name() == "cuda") {
    // What the run actually loaded: the GPUs rank 0 sees, the driver, and
    // the cuDNN, cuBLAS and NCCL libraries' own version reports.
    const kernels::GpuInfo gpu = kernels::query_gpu_info();
    device["gpus"] = gpu.devices;
    device["driver"] = gpu.driver_version;
    device["cuda_runtime"] = gpu.runtime_version;
    device["cudnn"] = gpu.cudnn_version;
    device["cublas"] = gpu.cublas_version;
    device["nccl"] = comm::nccl_version();
  }
  return nlohmann::json{
      {"format", "hpcnn-run"},
      {"version", 1},
      {"started", now_text()},
      {"hpcnn", version_string()},
      {"git_revision", git_revision()},
      {"compiler", compiler_string()},
      {"config", resolved_config(c, world, global_batch, comm::allreduce_name(algo), bucket_mb)},
      {"world_size", world},
      {"nodes", comm != nullptr ? comm->num_nodes() : 1},
      {"hosts", hosts},
      {"device", device},
      {"libraries",
       {{"mpi", comm::mpi_library_version()}, {"hdf5", h5::library_version()}, {"onednn", kernels::onednn_version()}}}};
}
}  // namespace

namespace {
/// Rebuilds the metrics of a finished epoch from its JSON (a checkpoint's history).
EvalMetrics eval_from_json(const nlohmann::json& j) {
  EvalMetrics m;
  m.samples = j.value("samples", int64_t{0});
  m.loss = j.value("loss", 0.0);
  m.accuracy = j.value("accuracy", -1.0);
  m.seconds = j.value("seconds", 0.0);
  return m;
}
EpochMetrics epoch_from_json(const nlohmann::json& j) {
  EpochMetrics e;
  e.epoch = j.value("epoch", 0);
  e.steps = j.value("steps", int64_t{0});
  e.samples = j.value("samples", int64_t{0});
  e.loss = j.value("loss", 0.0);
  e.accuracy = j.value("accuracy", -1.0);
  e.seconds = j.value("seconds", 0.0);
  e.samples_per_second = j.value("samples_per_second", 0.0);
  if (j.contains("validation")) e.validation = eval_from_json(j["validation"]);
  return e;
}

nlohmann::json state_to_json(const TrainState& s) {
  return {{"global_step", s.global_step}, {"epoch", s.epoch},     {"steps_in_epoch", s.steps_in_epoch},
          {"epoch_done", s.epoch_done},   {"history", s.history}, {"step_losses", s.step_losses}};
}
TrainState state_from_json(const nlohmann::json& j) {
  TrainState s;
  s.global_step = j.at("global_step").get<int64_t>();
  s.epoch = j.at("epoch").get<int64_t>();
  s.steps_in_epoch = j.at("steps_in_epoch").get<int64_t>();
  s.epoch_done = j.at("epoch_done").get<bool>();
  s.history = j.at("history");
  s.step_losses = j.at("step_losses").get<std::vector<double>>();
  return s;
}

/// The dataset's identity for resuming: its manifest (names, shapes, shard hashes).
std::string dataset_digest(const data::Manifest& m) {
  const std::string text = m.to_json().dump();
  return sha256_hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

/// This process's peak resident memory and read volume, from /proc (Linux).
nlohmann::json process_resources(int rank) {
  nlohmann::json j{{"rank", rank}};
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) j["peak_rss_mb"] = std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
  }
  std::ifstream io("/proc/self/io");
  for (std::string line; std::getline(io, line);) {
    if (line.rfind("rchar:", 0) == 0) j["read_call_bytes"] = std::stoll(line.substr(6));
    if (line.rfind("read_bytes:", 0) == 0) j["storage_read_bytes"] = std::stoll(line.substr(11));
  }
  return j;
}

/// Fails now, not after training, when `path` cannot be written.
void check_writable(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  HPCNN_CHECK(!ec, what, " ", path.string(), ": cannot create its directory: ", ec.message());
  HPCNN_CHECK(!std::filesystem::is_directory(path, ec), what, " ", path.string(), ": is a directory");
  const std::filesystem::path probe = path.string() + ".tmp." + std::to_string(getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  HPCNN_CHECK(fd >= 0, what, " ", path.string(), ": cannot be written: ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

/// Fails now, not after training, when a shard file of any split is missing.
void check_shards_present(const std::filesystem::path& dir, const data::Manifest& m) {
  for (const auto& [name, split] : m.splits) {
    for (const data::ShardInfo& shard : split.shards) {
      HPCNN_CHECK(std::filesystem::is_regular_file(dir / shard.file), dir.string(), ": the ", name, " shard ",
                  shard.file, " is missing (the manifest lists it)");
    }
  }
}

/// The sums of an epoch in progress (what a mid-epoch checkpoint carries).
struct EpochProgress {
  double loss_sum = 0;
  int64_t correct = 0, samples = 0, steps = 0;
  double seconds = 0;  ///< training time of this epoch so far
  nlohmann::json to_json() const {
    return {{"loss_sum", loss_sum}, {"correct", correct}, {"samples", samples}, {"steps", steps}, {"seconds", seconds}};
  }
  static EpochProgress from_json(const nlohmann::json& j) {
    EpochProgress p;
    p.loss_sum = j.value("loss_sum", 0.0);
    p.correct = j.value("correct", int64_t{0});
    p.samples = j.value("samples", int64_t{0});
    p.steps = j.value("steps", int64_t{0});
    p.seconds = j.value("seconds", 0.0);
    return p;
  }
};

/// One training run, set up once (constructor), then driven step by step
/// (step) and epoch by epoch (epoch); train() strings them together. A
/// gradient goes: backward reports each layer's finished range -> the run
/// gathers ranges into a bucket -> the reducer all-reduces it on its thread
/// while backward goes on -> wait() before the optimizer.
class TrainingRun {
 public:
  TrainingRun(const TrainConfig& c, const Logger& log, comm::Communicator* comm);
  /// Trains every epoch (or until max_steps), evaluates, writes metrics.
  TrainResult run();
  /// Records a failure in run.json (rank 0; best effort).
  void mark_failed(const std::string& why);

 private:
  struct StepOutcome {
    kernels::LossResult loss;
    int64_t samples = 0;          ///< in the global batch
    int stop_signal = 0;          ///< the signal some rank was asked to stop by (agreed by all; 0: none)
    bool checkpoint_due = false;  ///< rank 0's wall-time checkpoint interval passed (agreed by all)
  };
  StepOutcome step(int epoch, int64_t step_in_epoch, const data::EpochPlan& plan, data::Prefetcher* prefetch);
  /// Runs one epoch from step `first_step`; false when the run should not go on
  /// (max_steps reached before it started, or a stop was agreed).
  bool epoch(int epoch, int64_t first_step);
  /// Backward's hook: a layer's gradients [first, first + count) are final.
  void grads_ready(int64_t first, int64_t count);
  /// --init-from: copies the checkpoint's parameters of the matching leading layers (rank 0).
  void init_from_checkpoint(const Logger& log);
  /// Hands the finished gradients [first, last) to the reducer.
  void start_bucket(int64_t first, int64_t last);
  /// Decides what to do with the run directory (rank 0) and tells every rank.
  void prepare_run_directory(const nlohmann::json& resolved);
  /// Writes a resumable checkpoint to `path` (rank 0; the others go on).
  /// `drop_last_epoch`: the last entry of result_.epochs is the epoch in
  /// progress (cut short by --max-steps), kept out of the finished ones.
  void save_state(const std::filesystem::path& path, int epoch, int64_t steps_in_epoch, bool epoch_done,
                  const EpochProgress* progress, bool drop_last_epoch = false);
  nlohmann::json history(const EpochProgress* progress, bool drop_last_epoch = false) const;
  /// Where training starts: (1, 0), or where the resumed run stood.
  std::pair<int, int64_t> start_position() const;
  /// This rank's reading plan for `epoch` (made once per epoch, kept until the next).
  const data::EpochPlan& plan_for(int epoch);
  void mark(RunPhase phase, int64_t epoch = 0, int64_t step = 0) {
    if (watchdog_) watchdog_->mark(phase, epoch, step);
  }

  const TrainConfig& c_;
  const Logger& log_;
  comm::Communicator* comm_;
  const int world_, rank_;
  const data::Manifest manifest_;
  const bool classification_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<model::Model> net_;
  std::unique_ptr<model::Optimizer> optimizer_;
  int64_t global_batch_ = 0;
  std::unique_ptr<comm::GradientReducer> reducer_;         ///< null on one rank and with --compute-only
  comm::AllreduceAlgo algo_ = comm::AllreduceAlgo::kAuto;  ///< what runs (resolved)
  double bucket_mb_ = 0.0;                                 ///< --bucket-mb, auto resolved
  int64_t bucket_floats_ = 0;                     ///< start a bucket once this much is ready (0: after backward)
  int64_t pending_first_ = 0, pending_last_ = 0;  ///< finished but not yet started: [first, last)
  /// The trainable part of the flat buffers, [train_offset_, num_params()):
  /// all of it unless --freeze. Reduction ranges count from train_offset_.
  int64_t train_offset_ = 0, train_count_ = 0;
  double first_start_s_ = -1;  ///< when this step's first bucket started (timer clock)
  std::unique_ptr<data::SplitReader> train_reader_;
  std::unique_ptr<data::SplitReader> val_reader_;
  std::optional<data::Augmenter> augment_;  ///< training batches only; empty when --augment is off
  int64_t n_train_ = 0, n_holdout_ = 0, steps_per_epoch_ = 0, global_step_ = 0;
  int64_t cache_bytes_ = 0;                    ///< --cache-mb
  std::optional<data::EpochPlan> epoch_plan_;  ///< the current epoch's plan
  std::optional<timing::RankTimingWriter> timer_;
  std::optional<model::HostLayerRecorder> layer_recorder_;  ///< with --trace only: per-layer events
  data::Batch batch_;
  TrainResult result_;
  // Long jobs.
  std::unique_ptr<RunDirectory> run_dir_;  ///< rank 0, with a run directory
  std::unique_ptr<Watchdog> watchdog_;
  RunPlan plan_;
  std::optional<TrainState> resume_;       ///< where the resumed run stood
  std::optional<Checkpoint> resume_ckpt_;  ///< rank 0: the checkpoint resumed from
  Clock::time_point last_checkpoint_ = Clock::now();
  int stop_signal_ = 0;  ///< agreed: stop after the current step
};

std::string option_name(const std::string& key) {
  std::string s = key;
  std::replace(s.begin(), s.end(), '_', '-');
  return "--" + s;
}
}  // namespace

std::string resume_mismatch(const nlohmann::json& recorded, const nlohmann::json& current) {
  // What changes the trajectory. Not: epochs, max_steps (how far to go),
  // threads, allreduce, bucket_mb, compute_only, world_size and the per-rank
  // batch (how it is computed: the global batch is what counts).
  static const char* kKeys[] = {"model",        "optimizer",     "lr",           "beta1",    "beta2",
                                "adam_epsilon", "momentum",      "seed",         "backend",  "validation_split",
                                "eval_batch",   "evaluate_test", "global_batch", "sampling", "shuffle_window",
                                "augment",      "precision",     "allow_tf32",   "freeze",   "init_from",
                                "init_until"};
  // Keys newer than some run.json files, with the value their absence meant.
  auto value = [](const nlohmann::json& config, const std::string& key) {
    if (config.contains(key)) return config[key];
    if (key == "augment") return nlohmann::json("off");
    if (key == "allow_tf32") return nlohmann::json(false);
    if (key == "freeze" || key == "init_from" || key == "init_until") return nlohmann::json("");
    return key == "precision" ? nlohmann::json("fp32") : nlohmann::json();
  };
  for (const char* key : kKeys) {
    const nlohmann::json a = value(recorded, key);
    const nlohmann::json b = value(current, key);
    if (a == b) continue;
    if (std::string(key) == "global_batch" && current.value("global_batch_requested", int64_t{-1}) == 0) {
      // The global batch came from --batch (x ranks): name the option typed.
      return cat("--batch ", current.value("batch", int64_t{0}), " on ", current.value("world_size", 0),
                 " rank(s) is a global batch of ", b.dump(), " here but ", a.dump(),
                 " in the run being resumed (--global-batch ", a.dump(), " keeps it on any rank count)");
    }
    return cat(option_name(key), " is ", b.dump(), " here but ", a.dump(), " in the run being resumed");
  }
  // Local sampling deals shards by rank: another rank count is another trajectory.
  if (recorded.value("sampling", std::string()) == "local" &&
      recorded.value("world_size", 0) != current.value("world_size", 0)) {
    return cat("--sampling local ran on ", recorded.value("world_size", 0), " ranks, here on ",
               current.value("world_size", 0), " (local sampling resumes on the same rank count only)");
  }
  return "";
}

namespace {

TrainingRun::TrainingRun(const TrainConfig& c, const Logger& log, comm::Communicator* comm)
    : c_(c),
      log_(log),
      comm_(comm),
      world_(comm != nullptr ? comm->size() : 1),
      rank_(comm != nullptr ? comm->rank() : 0),
      manifest_(data::load_manifest(c.data_dir)),
      classification_(manifest_.task == data::Task::kClassification) {
  // Every rank agrees on what changes results before anything else collective.
  if (comm_ != nullptr) {
    check_ranks_agree(*comm_,
                      {{"configuration", c.to_json().dump()}, {"dataset manifest", manifest_.to_json().dump()}});
  }
  check_shards_present(c.data_dir, manifest_);
  // The model on its backend, and its optimizer.
  const model::Shape input{manifest_.sample_shape[0], manifest_.sample_shape[1], manifest_.sample_shape[2]};
  model::ModelSpec spec = model::make_model(c.model, &input);
  const model::LossKind loss_kind =
      classification_ ? model::LossKind::kSoftmaxCrossEntropy : model::LossKind::kMeanSquaredError;
  check_model_fits(spec, loss_kind, manifest_, "model '" + c.model + "'");
  kernels::BackendOptions backend_options;
  backend_options.threads = c.threads;
  backend_options.precision = c.precision;
  backend_options.gpu = c.gpu;
  backend_options.allow_tf32 = c.allow_tf32;
  backend_options.local_rank = comm_ != nullptr ? comm_->node_rank() : 0;  // one GPU per rank of the node
  // NCCL reduces device memory: it needs a GPU backend with a stream, and is
  // what `auto` means on one (the MPI algorithms stay available, staged).
  const bool gpu_stream = c.backend == kernels::BackendKind::kCuda;
  if (c.allreduce == comm::AllreduceAlgo::kNccl && !gpu_stream) {
    throw UsageError(cat("--allreduce nccl reduces GPU memory: it needs --backend cuda (with --backend ",
                         kernels::backend_name(c.backend), " use ring, tree, rhd, central, mpi, shm, hier or auto)"));
  }
  backend_ = kernels::make_backend(c.backend, backend_options);
  const int64_t n_params = spec.total_params();
  global_batch_ = c.global_batch > 0 ? c.global_batch : c.batch * world_;
  // The all-reduce, resolved once (`auto` by the size of a reduction block).
  const bool exchange = world_ > 1 && !c.compute_only;
  const bool nccl = c.allreduce == comm::AllreduceAlgo::kNccl ||
                    (c.allreduce == comm::AllreduceAlgo::kAuto && gpu_stream && comm::nccl_compiled());
  algo_ = nccl ? comm::AllreduceAlgo::kNccl
               : (comm_ != nullptr ? comm::resolve_allreduce(*comm_, c.allreduce, n_params) : c.allreduce);
  bucket_mb_ = c.bucket_mb >= 0 ? c.bucket_mb : (comm_ != nullptr && comm_->num_nodes() > 1 ? kAutoBucketMb : 0.0);
  bucket_floats_ = static_cast<int64_t>(bucket_mb_ * double(1 << 20)) / static_cast<int64_t>(sizeof(float));

  // The run directory: a new run, or the unfinished one found there resumed.
  if (!c.run_dir.empty()) {
    prepare_run_directory(resolved_config(c, world_, global_batch_, comm::allreduce_name(algo_), bucket_mb_));
  }
  // Shared memory inside a node reduces in place when the gradients live in
  // the node's shared window (host memory only).
  float* grads_storage = nullptr;
  if (exchange && backend_->device() == kernels::DeviceKind::kCpu && comm_->node_size() > 1 &&
      (algo_ == comm::AllreduceAlgo::kShm || algo_ == comm::AllreduceAlgo::kHier)) {
    grads_storage = comm_->gradient_window(n_params);
  }
  net_ = std::make_unique<model::Model>(std::move(spec), loss_kind, *backend_, c.seed, grads_storage);
  if (!c.freeze.empty()) net_->set_frozen_layers(net_->spec().layer_index(c.freeze) + 1);
  train_offset_ = net_->trainable_offset();
  train_count_ = net_->num_params() - train_offset_;
  HPCNN_CHECK(train_count_ > 0, "--freeze ", c.freeze, " freezes every parameter of model '", c.model,
              "': nothing left to train");
  if (!c.init_from.empty() && !resume_ckpt_ && rank_ == 0) init_from_checkpoint(log);
  optimizer_ = std::make_unique<model::Optimizer>(c.optimizer, *backend_, train_count_);
  if (resume_ckpt_) {  // rank 0 holds the checkpoint; the broadcasts below hand it on
    net_->set_params_host(resume_ckpt_->params);
    optimizer_->restore(resume_ckpt_->optimizer_steps, resume_ckpt_->optimizer_a, resume_ckpt_->optimizer_b);
  }

  // Every rank starts from rank 0's weights (and, resuming, its optimizer state).
  if (comm_ != nullptr) {
    std::string shapes;
    for (const model::ParamView& v : net_->param_views()) shapes += cat(v.weights_count, "+", v.bias_count, ";");
    check_ranks_agree(*comm_, {{"parameter shapes", shapes}});
    std::vector<float> params = net_->params_host();
    comm_->broadcast(params.data(), static_cast<int64_t>(params.size()));
    net_->set_params_host(params);
    if (resume_ && world_ > 1) {
      std::vector<float> a = optimizer_->state_a(), b = optimizer_->state_b();
      comm_->broadcast(a.data(), static_cast<int64_t>(a.size()));
      comm_->broadcast(b.data(), static_cast<int64_t>(b.size()));
      optimizer_->restore(resume_->global_step, a, b);
    }
  }
  // The gradient exchange, built once.
  // Gradients in device memory go through host staging buffers (the MPI
  // algorithms) on a GPU backend; never hand device pointers to host code.
  if (exchange) {
    if (algo_ == comm::AllreduceAlgo::kNccl) {
      reducer_ = comm::make_nccl_reducer(*comm_, *backend_, net_->grads() + train_offset_, train_count_);
    } else if (backend_->device() == kernels::DeviceKind::kGpu) {
      reducer_ = comm::make_staged_reducer(*comm_, algo_, *backend_, net_->grads() + train_offset_, train_count_);
    } else {
      reducer_ = comm::make_host_reducer(*comm_, algo_, net_->grads() + train_offset_, train_count_);
    }
  }
  if (rank_ == 0) {
    if (net_->frozen_layers() > 0) {
      log.info(cat("freeze: layers 1-", net_->frozen_layers(), " frozen (", train_offset_,
                   " parameters); training layers ", net_->frozen_layers() + 1, "-", net_->spec().layers.size(), " (",
                   train_count_, " parameters)"));
    }
    log.info(cat("model ", c.model, ": ", net_->num_params(), " parameters, backend ", backend_->name(), ", dataset ",
                 manifest_.name, " (", manifest_.split("train").num_samples(), " training samples)"));
  }

  // Training / validation ranges.
  train_reader_ = std::make_unique<data::SplitReader>(c.data_dir, manifest_, "train");
  const int64_t n_all = train_reader_->num_samples();
  const bool has_val_split = manifest_.splits.count("validation") > 0;
  n_holdout_ = has_val_split ? 0 : static_cast<int64_t>(std::llround(c.validation_split * static_cast<double>(n_all)));
  n_train_ = n_all - n_holdout_;
  HPCNN_CHECK(n_train_ >= 1, "--validation-split ", c.validation_split, " leaves no training samples");
  HPCNN_CHECK(n_train_ >= world_, "cannot train on ", world_, " ranks: the dataset has only ", n_train_,
              " training samples (every rank needs at least one)");
  HPCNN_CHECK(global_batch_ >= world_, "global batch ", global_batch_, " is smaller than the ", world_,
              " ranks: every rank needs a sample per step");
  if (has_val_split) val_reader_ = std::make_unique<data::SplitReader>(c.data_dir, manifest_, "validation");
  if (c.augment.enabled()) augment_.emplace(c.augment, c.seed, manifest_);
  // What this rank reads: every shard (global) or its own (local). They are
  // preloaded when they fit in --cache-mb; otherwise read through a bounded
  // cache (local: whole blocks, each once per epoch; global: HDF5's chunk
  // cache, shared out among the shards).
  // The plan of the first epoch to run (epoch() uses it, not a second copy).
  const data::EpochPlan& first_plan = plan_for(start_position().first);
  steps_per_epoch_ = first_plan.steps();
  const std::vector<int>& my_shards = first_plan.shards();
  cache_bytes_ = c.cache_mb * (int64_t{1} << 20);
  const bool preload = train_reader_->preload_bytes(my_shards) <= cache_bytes_;
  if (!preload && c.sampling == data::SamplingMode::kLocal) {
    // A shuffle window is visited sample by sample: all of its blocks must stay cached.
    const int64_t window_bytes = (c.shuffle_window + 1) * data::kBlockRows * train_reader_->bytes_per_sample();
    if (window_bytes > cache_bytes_ && rank_ == 0) {
      log.info(cat("data: --cache-mb ", c.cache_mb, " cannot hold a shuffle window of ", c.shuffle_window,
                   " blocks: the block cache takes ", (window_bytes + (1 << 20) - 1) >> 20, " MB"));
    }
    train_reader_->set_block_cache(std::max(cache_bytes_, window_bytes));
  } else if (!preload) {
    train_reader_->set_chunk_cache_bytes(static_cast<size_t>(std::max<int64_t>(
        int64_t{1} << 20, cache_bytes_ / std::max<int64_t>(1, static_cast<int64_t>(my_shards.size())))));
  }
  if (rank_ == 0) {
    log.info(cat(
        "data: ", data::sampling_mode_name(c.sampling), " sampling, rank 0 reads ", my_shards.size(), " of ",
        manifest_.split("train").shards.size(), " shard(s), ",
        preload ? "preloaded" : (c.sampling == data::SamplingMode::kLocal ? "through a block cache" : "from storage"),
        c.prefetch > 0 ? cat(", ", c.prefetch, " batches read ahead") : std::string(", read in the step")));
  }
  if (c.verify_data == TrainConfig::VerifyData::kAlways ||
      (c.verify_data == TrainConfig::VerifyData::kAuto && preload)) {
    mark(RunPhase::kData);
    std::vector<std::string> splits;
    for (const auto& [name, split] : manifest_.splits) splits.push_back(name);
    data::verify_checksums(c.data_dir, manifest_, splits);
  }
  if (preload) train_reader_->preload(my_shards);

  // The run directory: run.json, then this rank's timing file.
  result_.model = c.model;
  result_.params = net_->num_params();
  result_.world_size = world_;
  result_.global_batch = global_batch_;
  result_.allreduce = comm::allreduce_name(algo_);
  result_.bucket_mb = bucket_mb_;
  if (resume_) {
    global_step_ = resume_->global_step;
    result_.resumed_from_step = resume_->global_step;
    result_.step_losses = resume_->step_losses;
    result_.train_seconds = resume_->history.value("train_seconds", 0.0);
    if (resume_->history.contains("epochs")) {
      for (const auto& e : resume_->history["epochs"]) result_.epochs.push_back(epoch_from_json(e));
    }
  }
  if (!c.run_dir.empty()) {
    nlohmann::json manifest = run_manifest(c, comm_, global_batch_, algo_, bucket_mb_, *backend_);
    if (run_dir_) {
      nlohmann::json resumes = plan_.resume ? plan_.previous_resumes : nlohmann::json::array();
      if (resume_) resumes.push_back({{"from_step", resume_->global_step}, {"world_size", world_}, {"at", now_text()}});
      manifest["resumes"] = resumes;
      run_dir_->write_manifest(manifest, RunStatus::kRunning);
    }
    const std::string stem = timing::rank_file_stem(rank_);
    std::optional<timing::ResumePoint> keep;
    if (resume_ && plan_.previous_world_size == world_) {
      keep = timing::ResumePoint{resume_->epoch, resume_->steps_in_epoch};
    }
    timer_.emplace(c.run_dir / "timing" / (stem + ".csv"), rank_,
                   c.trace ? c.run_dir / "trace" / (stem + ".json") : std::filesystem::path(), keep);
    if (timer_->tracing()) {
      std::vector<timing::LayerLabel> labels;
      for (size_t i = 0; i < net_->spec().layers.size(); ++i) {
        const model::ResolvedLayer& l = net_->spec().layers[i];
        labels.push_back({model::layer_label(i, l), model::layer_kind_name(l.spec.kind), l.output.str()});
      }
      timer_->set_layers(std::move(labels));
      layer_recorder_.emplace(*backend_);
    }
  }
  if (c.checkpoint_every_steps > 0 || c.checkpoint_every_seconds > 0) {
    HPCNN_CHECK(!c.run_dir.empty(), "periodic checkpoints need a run directory");
  }
}

void TrainingRun::prepare_run_directory(const nlohmann::json& resolved) {
  // Rank 0 decides; every rank learns the verdict (or the same error).
  std::string error;
  nlohmann::json verdict;
  if (rank_ == 0) {
    try {
      run_dir_ = std::make_unique<RunDirectory>(c_.run_dir);
      plan_ = run_dir_->prepare(c_.resume, c_.force, c_.checkpoint);
      check_writable(c_.checkpoint, "--checkpoint");
      check_writable(c_.run_dir / "metrics.json", "the run directory's");
      if (plan_.resume) {
        resume_ckpt_ = load_checkpoint(plan_.checkpoint);
        const TrainState& s = *resume_ckpt_->state;
        const nlohmann::json recorded = s.history.value("config", nlohmann::json::object());
        nlohmann::json current = resolved;
        current["global_batch_requested"] = c_.global_batch;  // 0: --batch decided it (for the message only)
        const std::string differs = resume_mismatch(recorded, current);
        HPCNN_CHECK(differs.empty(), "cannot resume ", c_.run_dir.string(), ": ", differs,
                    " (a different run needs another --out, or --force to replace this one)");
        HPCNN_CHECK(s.history.value("dataset_digest", std::string()) == dataset_digest(manifest_), "cannot resume ",
                    c_.run_dir.string(), ": dataset '", manifest_.name,
                    "' is not the data the run was trained on (its manifest differs)");
        const bool done = (s.epoch_done && s.epoch >= c_.epochs) || (c_.max_steps > 0 && s.global_step >= c_.max_steps);
        HPCNN_CHECK(!done, "cannot resume ", c_.run_dir.string(), ": nothing left to train (the run stands at epoch ",
                    s.epoch, s.epoch_done ? " done" : "", ", step ", s.global_step,
                    "): raise --epochs or --max-steps to continue it");
        if (plan_.previous_world_size != world_ && plan_.previous_world_size > 0) {
          // Other ranks' files would not line up: keep the old timing aside.
          std::error_code ec;
          std::filesystem::rename(c_.run_dir / "timing", c_.run_dir / cat("timing-before-resume-", s.global_step), ec);
        }
        verdict["state"] = state_to_json(s);
      }
      verdict["resume"] = plan_.resume;
      verdict["note"] = plan_.note;
      verdict["previous_world_size"] = plan_.previous_world_size;
      verdict["checkpoint_step"] = plan_.checkpoint_step;
    } catch (const Error& e) {
      error = e.message();
      run_dir_.reset();
    } catch (const std::exception& e) {
      error = e.what();
      run_dir_.reset();
    }
  }
  if (comm_ != nullptr && world_ > 1) {
    error = comm_->broadcast(error);
    const std::string text = comm_->broadcast(error.empty() ? verdict.dump() : std::string("{}"));
    if (rank_ != 0) verdict = nlohmann::json::parse(text);
  }
  if (!error.empty()) {
    // Rank 0 reports; the others end quietly with it.
    if (rank_ == 0) throw Error(error, __FILE__, __LINE__);
    throw Error(cat("rank 0 stopped: ", error), __FILE__, __LINE__);
  }
  plan_.resume = verdict.value("resume", false);
  plan_.note = verdict.value("note", std::string());
  plan_.previous_world_size = verdict.value("previous_world_size", 0);
  plan_.checkpoint_step = verdict.value("checkpoint_step", int64_t{0});
  if (plan_.resume) resume_ = state_from_json(verdict["state"]);
  if (rank_ == 0) log_.info(plan_.note);
  // The watchdog, once every rank knows the run directory is usable.
  std::function<void(const std::string&)> on_stall;
  if (rank_ == 0) on_stall = [this](const std::string& why) { run_dir_->set_status(RunStatus::kFailed, why); };
  watchdog_ = std::make_unique<Watchdog>(c_.timeout_s, rank_, world_, c_.run_dir / "heartbeat", on_stall);
}

void TrainingRun::mark_failed(const std::string& why) {
  if (!run_dir_) return;
  try {
    run_dir_->set_status(RunStatus::kFailed, why);
  } catch (const std::exception&) {
    // The error being reported matters more.
  }
}

nlohmann::json TrainingRun::history(const EpochProgress* progress, bool drop_last_epoch) const {
  nlohmann::json epochs = nlohmann::json::array();
  const size_t finished = result_.epochs.size() - (drop_last_epoch && !result_.epochs.empty() ? 1 : 0);
  for (size_t i = 0; i < finished; ++i) epochs.push_back(result_.epochs[i].to_json());
  const double dropped = finished < result_.epochs.size() ? result_.epochs.back().seconds : 0.0;
  nlohmann::json h{
      {"epochs", epochs},
      {"train_seconds", result_.train_seconds - dropped},
      {"config", resolved_config(c_, world_, global_batch_, comm::allreduce_name(algo_), bucket_mb_)},
      {"dataset_digest", dataset_digest(manifest_)},
  };
  if (progress != nullptr) h["partial"] = progress->to_json();
  return h;
}

void TrainingRun::save_state(const std::filesystem::path& path, int epoch, int64_t steps_in_epoch, bool epoch_done,
                             const EpochProgress* progress, bool drop_last_epoch) {
  last_checkpoint_ = Clock::now();
  if (rank_ != 0) return;
  mark(RunPhase::kCheckpoint, epoch, steps_in_epoch);
  TrainState state;
  state.global_step = global_step_;
  state.epoch = epoch;
  state.steps_in_epoch = steps_in_epoch;
  state.epoch_done = epoch_done;
  state.history = history(progress, drop_last_epoch);
  state.step_losses = result_.step_losses;
  save_checkpoint(path, *net_, optimizer_.get(), epoch, c_.seed, &manifest_, &state);
  if (path.parent_path() == c_.run_dir / "checkpoints") prune_checkpoints(c_.run_dir, c_.keep_checkpoints);
}

std::pair<int, int64_t> TrainingRun::start_position() const {
  if (!resume_) return {1, 0};
  if (resume_->epoch_done) return {static_cast<int>(resume_->epoch) + 1, 0};
  return {static_cast<int>(resume_->epoch), resume_->steps_in_epoch};
}

const data::EpochPlan& TrainingRun::plan_for(int epoch) {
  if (!epoch_plan_ || epoch_plan_->epoch() != epoch) {
    epoch_plan_.emplace(c_.sampling, manifest_.split("train"), n_train_, global_batch_, rank_, world_, c_.seed, epoch,
                        c_.shuffle_window);
  }
  return *epoch_plan_;
}

void TrainingRun::init_from_checkpoint(const Logger& log) {
  const std::string path = c_.init_from.string();
  const Checkpoint ckpt = load_checkpoint(c_.init_from);
  const model::ModelSpec from = model::resolve(ckpt.model_name, ckpt.model_text, ckpt.input);
  const model::ModelSpec& to = net_->spec();
  size_t limit = std::min(from.layers.size(), to.layers.size());
  const bool until = !c_.init_until.empty();
  if (until) {
    limit = to.layer_index(c_.init_until) + 1;
    HPCNN_CHECK(limit <= from.layers.size(), "--init-until ", c_.init_until, " is layer ", limit, ", but the model of ",
                path, " has ", from.layers.size(), " layers");
  }
  // Layers match when they are the same layer (names aside) on the same input.
  const auto text = [](model::LayerSpec l) {
    l.name.clear();
    return l.str();
  };
  size_t copied = 0;
  for (; copied < limit; ++copied) {
    const model::ResolvedLayer &a = from.layers[copied], &b = to.layers[copied];
    if (text(a.spec) == text(b.spec) && a.input == b.input && a.params() == b.params()) continue;
    HPCNN_CHECK(!until, "--init-from ", path, ": layer ", copied + 1, " is '", text(a.spec), "' on ", a.input.str(),
                " there but '", text(b.spec), "' on ", b.input.str(), " here (--init-until ", c_.init_until,
                " asks for it)");
    break;
  }
  HPCNN_CHECK(copied > 0, "--init-from ", path, ": its model '", ckpt.model_name, "' and '", to.name,
              "' differ from the first layer on (", text(from.layers[0].spec), " on ", from.input.str(), " there, ",
              text(to.layers[0].spec), " on ", to.input.str(), " here)");
  // Both buffers are laid out layer by layer, so the matching layers are a common prefix.
  const int64_t count = copied < to.layers.size() ? net_->param_views()[copied].weights_offset : net_->num_params();
  std::vector<float> params = net_->params_host();
  std::copy_n(ckpt.params.begin(), count, params.begin());
  net_->set_params_host(params);
  log.info(cat("init: layers 1-", copied, " (", count, " parameters) from ", path, " (model ", ckpt.model_name,
               ", trained on ", ckpt.dataset_name.empty() ? std::string("?") : ckpt.dataset_name, ")",
               copied < to.layers.size() ? cat("; layers ", copied + 1, "-", to.layers.size(), " start fresh") : ""));
}

void TrainingRun::grads_ready(int64_t first, int64_t count) {
  first -= train_offset_;  // the reducer sees the trainable part only
  // Ranges arrive tail first: this one ends where the pending bucket begins.
  if (pending_first_ == pending_last_) pending_last_ = first + count;
  pending_first_ = first;
  if (bucket_floats_ > 0 && pending_last_ - pending_first_ >= bucket_floats_) {
    start_bucket(pending_first_, pending_last_);
    pending_last_ = pending_first_;
  }
}

void TrainingRun::start_bucket(int64_t first, int64_t last) {
  if (first_start_s_ < 0 && timer_) first_start_s_ = timer_->now();
  reducer_->start(first, last - first);
}

TrainingRun::StepOutcome TrainingRun::step(int epoch, int64_t step_in_epoch, const data::EpochPlan& plan,
                                           data::Prefetcher* prefetch) {
  // This rank's part of the global batch of `len` samples.
  const std::span<const int64_t> mine = plan.step_indices(step_in_epoch);
  const int64_t len = plan.step_samples(step_in_epoch);
  const auto n = static_cast<int64_t>(mine.size());
  StepOutcome out;
  out.samples = len;
  model::Model::StepTimes st;
  double data_s = 0.0;
  int64_t data_bytes = 0, queue = 0;
  const double t_step = timer_ ? timer_->now() : 0.0;
  pending_first_ = pending_last_ = train_count_;
  first_start_s_ = -1;
  model::Model::GradsReadyFn hook;
  if (reducer_) hook = [this](int64_t f, int64_t k) { grads_ready(f, k); };
  if (n > 0) {
    mark(RunPhase::kData, epoch, step_in_epoch + 1);
    if (prefetch != nullptr) {
      const data::Prefetcher::Taken t = prefetch->take(batch_);
      data_bytes = t.bytes_read;
      queue = t.queue_depth;
    } else {
      const int64_t before = train_reader_->bytes_read();
      train_reader_->read(mine, batch_);
      data_bytes = train_reader_->bytes_read() - before;
      if (augment_) augment_->apply(batch_, epoch);
    }
    const double t_data = timer_ ? timer_->now() : 0.0;
    mark(RunPhase::kCompute, epoch, step_in_epoch + 1);
    out.loss = net_->train_step(batch_, 1.0f / static_cast<float>(len), epoch, timer_ ? &st : nullptr, hook,
                                layer_recorder_ ? &*layer_recorder_ : nullptr);
    data_s = t_data - t_step;
  } else {
    backend_->fill(net_->grads() + train_offset_, 0.0f, train_count_);  // a rank with no sample adds nothing
    pending_first_ = 0;
  }
  // Every phase gets its row on every rank, zero seconds when it did not run.
  const double t_backward = t_step + data_s + st.forward_s;
  if (timer_) {
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kData, t_step, data_s, data_bytes, n, queue);
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kForward, t_step + data_s, st.forward_s, 0, n);
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kBackward, t_backward, st.backward_s, 0, n);
    // Layer spans count from their pass's start, so they nest inside the phase events just recorded.
    if (layer_recorder_) {
      for (const model::LayerRecorder::Span& span : layer_recorder_->take()) {
        const bool fwd = span.pass == model::LayerRecorder::Pass::kForward;
        timer_->record_layer(epoch, step_in_epoch + 1, fwd ? timing::Phase::kForward : timing::Phase::kBackward,
                             span.layer, (fwd ? t_step + data_s : t_backward) + span.start_s, span.seconds);
      }
    }
  }
  const double t_wait = timer_ ? timer_->now() : 0.0;
  mark(RunPhase::kCollective, epoch, step_in_epoch + 1);
  comm::ReduceStats rs;
  // The step's small exchange: the loss sums, and two flags every rank must
  // act on together (a stop was asked for somewhere; rank 0's checkpoint
  // interval passed). One rank alone needs no exchange.
  double flags[2] = {
      stop_vote(preemption_signal()),
      rank_ == 0 && c_.checkpoint_every_seconds > 0 && seconds_since(last_checkpoint_) >= c_.checkpoint_every_seconds
          ? 1.0
          : 0.0};
  if (reducer_) {
    if (pending_last_ > 0) start_bucket(0, pending_last_);  // what backward finished since the last bucket
    rs = reducer_->wait();
    double sums[4] = {out.loss.loss_sum, static_cast<double>(out.loss.correct), flags[0], flags[1]};
    comm_->sum(sums, 4);
    out.loss.loss_sum = sums[0];
    out.loss.correct = static_cast<int64_t>(sums[1]);
    flags[0] = sums[2];
    flags[1] = sums[3];
  } else if (comm_ != nullptr && world_ > 1) {
    comm_->sum(flags, 2);
  }
  out.stop_signal = stop_signal_from_votes(flags[0]);
  out.checkpoint_due = flags[1] > 0;
  if (timer_) {
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kAllreduce, first_start_s_ >= 0 ? first_start_s_ : t_wait,
                   rs.busy_s, rs.bytes, n);
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kAllreduceWait, t_wait, timer_->now() - t_wait, 0, n);
  }
  // Every rank sees the same global loss, so all stop together.
  if (!std::isfinite(out.loss.loss_sum)) {
    HPCNN_THROW("non-finite loss at epoch ", epoch, ", step ", step_in_epoch + 1, " (global step ", global_step_ + 1,
                "): training diverged or the data holds NaN/Inf; lower --lr (now ", c_.optimizer.lr,
                ") or run hpcnn data verify");
  }
  mark(RunPhase::kOptimizer, epoch, step_in_epoch + 1);
  const double t_opt = timer_ ? timer_->now() : 0.0;
  optimizer_->step(net_->params() + train_offset_, net_->grads() + train_offset_);
  if (timer_) {
    const double t_end = timer_->now();
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kOptimizer, t_opt, t_end - t_opt, 0, n);
    timer_->record(epoch, step_in_epoch + 1, timing::Phase::kStep, t_step, t_end - t_step, rs.bytes, n);
    timer_->end_step();
  }
  return out;
}

bool TrainingRun::epoch(int epoch, int64_t first_step) {
  if (c_.max_steps > 0 && global_step_ >= c_.max_steps) return false;
  const data::EpochPlan& plan = plan_for(epoch);
  // The epoch's batches, read ahead on their own thread (stopped when this
  // scope ends, before evaluation reads anything else).
  std::optional<data::Prefetcher> prefetch;
  if (c_.prefetch > 0 && first_step < plan.steps()) {
    prefetch.emplace(*train_reader_, plan, first_step, c_.prefetch, augment_ ? &*augment_ : nullptr);
  }
  EpochMetrics em;
  em.epoch = epoch;
  // Resuming inside this epoch: the sums of the steps already taken.
  EpochProgress p;
  if (first_step > 0 && resume_ && resume_->history.contains("partial")) {
    p = EpochProgress::from_json(resume_->history["partial"]);
  }
  auto last_progress = Clock::now();
  const auto epoch_start = Clock::now();
  const double seconds_before = p.seconds;
  int64_t s = first_step;
  for (; s < steps_per_epoch_; ++s) {
    if (c_.max_steps > 0 && global_step_ >= c_.max_steps) break;
    const StepOutcome r = step(epoch, s, plan, prefetch ? &*prefetch : nullptr);
    result_.step_losses.push_back(r.loss.loss_sum / static_cast<double>(r.samples));
    p.loss_sum += r.loss.loss_sum;
    p.correct += r.loss.correct;
    p.samples += r.samples;
    ++p.steps;
    ++global_step_;
    const bool due_by_steps = c_.checkpoint_every_steps > 0 && global_step_ % c_.checkpoint_every_steps == 0;
    if (r.stop_signal != 0 || r.checkpoint_due || due_by_steps) {
      p.seconds = seconds_before + seconds_since(epoch_start);
      save_state(periodic_checkpoint_path(c_.run_dir, global_step_), epoch, s + 1, false, &p);
    }
    if (r.stop_signal != 0) {
      stop_signal_ = r.stop_signal;
      result_.train_seconds += seconds_since(epoch_start);
      log_.end_progress();
      if (rank_ == 0) {
        log_.info(cat("stopping on ", signal_name(stop_signal_), " after global step ", global_step_, " (epoch ", epoch,
                      " step ", s + 1, "): checkpoint written, resume with the same command or --resume ",
                      c_.run_dir.string()));
      }
      return false;
    }
    if (seconds_since(last_progress) >= c_.progress_seconds) {
      last_progress = Clock::now();
      const double rate = static_cast<double>(p.samples) / (seconds_before + seconds_since(epoch_start));
      const double remaining = static_cast<double>(n_train_ - p.samples) / rate +
                               static_cast<double>(c_.epochs - epoch) * static_cast<double>(n_train_) / rate;
      if (rank_ == 0) {
        log_.progress(cat("epoch ", epoch, "/", c_.epochs, " step ", s + 1, "/", steps_per_epoch_, " loss ",
                          p.loss_sum / static_cast<double>(p.samples),
                          classification_
                              ? cat(" acc ", static_cast<double>(p.correct) / static_cast<double>(p.samples))
                              : std::string(),
                          " ", static_cast<int64_t>(rate), " samples/s ETA ", eta_text(remaining)));
      }
    }
  }
  prefetch.reset();  // nothing reads ahead while evaluation uses HDF5
  backend_->synchronize();
  em.seconds = seconds_before + seconds_since(epoch_start);
  em.steps = p.steps;
  em.samples = p.samples;
  log_.end_progress();
  if (em.samples == 0) return false;
  em.loss = p.loss_sum / static_cast<double>(em.samples);
  if (classification_) em.accuracy = static_cast<double>(p.correct) / static_cast<double>(em.samples);
  em.samples_per_second = static_cast<double>(em.samples) / em.seconds;
  mark(RunPhase::kEvaluate, epoch, s);
  const std::function<void()> tick = [this, epoch, s] { mark(RunPhase::kEvaluate, epoch, s); };
  if (val_reader_) {
    em.validation = evaluate(*net_, *val_reader_, 0, val_reader_->num_samples(), c_.eval_batch, comm_, tick);
  } else if (n_holdout_ > 0) {
    em.validation = evaluate(*net_, *train_reader_, n_train_, n_holdout_, c_.eval_batch, comm_, tick);
  }
  if (rank_ == 0) {
    log_.info(cat("epoch ", epoch, "/", c_.epochs, ": loss ", em.loss,
                  classification_ ? cat(" acc ", em.accuracy) : std::string(),
                  em.validation ? cat(" | val loss ", em.validation->loss,
                                      classification_ ? cat(" val acc ", em.validation->accuracy) : std::string())
                                : std::string(),
                  " | ", static_cast<int64_t>(em.samples_per_second), " samples/s, ", em.seconds, " s"));
  }
  result_.train_seconds += em.seconds;
  result_.epochs.push_back(em);
  if (!c_.checkpoint.empty()) {
    if (s < steps_per_epoch_) {
      // --max-steps ended the epoch early: a later --resume with more steps
      // goes on inside it, so the checkpoint keeps it as an epoch in progress.
      p.seconds = em.seconds;
      save_state(c_.checkpoint, epoch, s, false, &p, /*drop_last_epoch=*/true);
    } else {
      save_state(c_.checkpoint, epoch, s, true, nullptr);
    }
  }
  return true;
}

TrainResult TrainingRun::run() {
  if (comm_ != nullptr) comm_->barrier();  // align the ranks' timing clocks
  if (timer_) timer_->start_clock();
  const auto run_start = Clock::now();
  last_checkpoint_ = Clock::now();
  // Where to start: the beginning, or where the resumed run stood.
  const auto [first_epoch, first_step] = start_position();
  const kernels::TransferCounters transfers_before = backend_->transfers();
  const int64_t steps_before = global_step_;
  for (int e = first_epoch; e <= c_.epochs; ++e) {
    const bool go_on = epoch(e, e == first_epoch ? first_step : 0);
    if (!go_on) break;
  }
  result_.global_steps = global_step_;
  if (backend_->device() == kernels::DeviceKind::kGpu && global_step_ > steps_before) {
    // What a step moves between host and device on this rank (checkpoints
    // included): the numbers a GPU run should keep small.
    const kernels::TransferCounters t = backend_->transfers();
    const auto per_step = [&](int64_t v) {
      return static_cast<double>(v) / static_cast<double>(global_step_ - steps_before);
    };
    result_.device_transfers = {
        {"host_to_device_bytes_per_step", per_step(t.host_to_device_bytes - transfers_before.host_to_device_bytes)},
        {"device_to_host_bytes_per_step", per_step(t.device_to_host_bytes - transfers_before.device_to_host_bytes)},
        {"uploads_per_step", per_step(t.uploads - transfers_before.uploads)},
        {"downloads_per_step", per_step(t.downloads - transfers_before.downloads)}};
    log_.info(cat("host<->device per step (rank ", rank_,
                  "): ", result_.device_transfers["host_to_device_bytes_per_step"].get<double>(), " bytes up, ",
                  result_.device_transfers["device_to_host_bytes_per_step"].get<double>(), " bytes down"));
  }
  mark(RunPhase::kFinish);
  if (timer_) timer_->finish();
  if (stop_signal_ != 0) {
    // Preempted: the checkpoint is written; every rank leaves together.
    result_.preempted_by = stop_signal_;
    if (run_dir_) {
      run_dir_->set_status(RunStatus::kPreempted,
                           cat(signal_name(stop_signal_), " after global step ", global_step_, "; resumable"));
    }
    if (comm_ != nullptr) comm_->barrier();
    return result_;
  }
  int64_t trained = 0;
  for (const EpochMetrics& e : result_.epochs) trained += e.samples;
  result_.samples_per_second = result_.train_seconds > 0 ? static_cast<double>(trained) / result_.train_seconds : 0.0;
  if (c_.evaluate_test && manifest_.splits.count("test")) {
    mark(RunPhase::kEvaluate);
    data::SplitReader test_reader(c_.data_dir, manifest_, "test");
    result_.test = evaluate(*net_, test_reader, 0, test_reader.num_samples(), c_.eval_batch, comm_,
                            [this] { mark(RunPhase::kEvaluate); });
  }
  log_.debug(cat("run took ", seconds_since(run_start), " s"));
  const std::string mine = process_resources(rank_).dump();
  for (const std::string& text : comm_ != nullptr ? comm_->gather(mine) : std::vector<std::string>{mine}) {
    if (!text.empty()) result_.ranks.push_back(nlohmann::json::parse(text));
  }
  if (!c_.metrics.empty() && rank_ == 0) {
    if (c_.metrics.has_parent_path()) std::filesystem::create_directories(c_.metrics.parent_path());
    write_file_atomic(c_.metrics, result_.to_json(c_).dump(2) + "\n");
  }
  if (run_dir_) run_dir_->set_status(RunStatus::kComplete, cat(global_step_, " steps"));
  mark(RunPhase::kFinish);
  if (comm_ != nullptr) comm_->barrier();  // nobody leaves while rank 0 still writes
  return result_;
}
}  // namespace

TrainResult train(const TrainConfig& c, const Logger& log, comm::Communicator* comm) {
  PreemptionSignals signals;
  std::unique_ptr<TrainingRun> run;
  try {
    run = std::make_unique<TrainingRun>(c, log, comm);
    return run->run();
  } catch (const std::exception& e) {
    if (run) run->mark_failed(e.what());
    throw;
  }
}

}  // namespace hpcnn::train
