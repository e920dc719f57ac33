// The training loop.
#include "train/trainer.hpp"

#include <chrono>
#include <ctime>
#include <optional>
#include <cmath>
#include <numeric>

#include <mpi.h>

#include "comm/allreduce.hpp"
#include "core/build_info_access.hpp"
#include "core/check.hpp"
#include "core/partition.hpp"
#include "core/sha256.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "data/sampler.hpp"
#include "timing/timing.hpp"
#include "train/checkpoint.hpp"

#include <H5public.h>
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
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm->comm()));
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
  nlohmann::json j{{"epoch", epoch},     {"steps", steps},     {"samples", samples},
                   {"loss", loss},       {"seconds", seconds}, {"samples_per_second", samples_per_second}};
  if (accuracy >= 0) j["accuracy"] = accuracy;
  if (validation) j["validation"] = validation->to_json();
  return j;
}

nlohmann::json TrainResult::to_json(const TrainConfig& c) const {
  nlohmann::json epochs_json = nlohmann::json::array();
  for (const EpochMetrics& e : epochs) epochs_json.push_back(e.to_json());
  nlohmann::json j{
      {"format", "hpcnn-metrics"},
      {"version", 1},
      {"hpcnn", version_string()},
      {"config",
       {{"data", c.data_dir.string()}, {"model", c.model}, {"epochs", c.epochs}, {"batch", c.batch},
        {"optimizer", model::optimizer_name(c.optimizer.kind)}, {"lr", c.optimizer.lr},
        {"seed", c.seed}, {"threads", c.threads}, {"backend", c.backend}, {"validation_split", c.validation_split},
        {"max_steps", c.max_steps}, {"global_batch", global_batch}, {"world_size", world_size},
        {"allreduce", allreduce}}},
      {"model", model},
      {"params", params},
      {"epochs", epochs_json},
      {"train_seconds", train_seconds},
      {"samples_per_second", samples_per_second},
      {"step_losses", step_losses},
  };
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

std::unique_ptr<kernels::Backend> make_backend(const std::string& name, int threads) {
  if (name == "onednn") return kernels::make_onednn_backend(threads);
  if (name == "reference") return kernels::make_reference_backend();
  throw UsageError("unknown backend '" + name + "' (expected onednn or reference)");
}

EvalMetrics evaluate(model::Model& model, data::SplitReader& reader, int64_t first, int64_t count, int64_t batch,
                     comm::Communicator* comm) {
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
/// Stops every rank, naming what differs, unless all ranks agree on each
/// (name, text) pair. Every rank reaches the same verdict, so none is left
/// waiting in a collective.
void check_ranks_agree(comm::Communicator& comm, const std::vector<std::pair<std::string, std::string>>& items) {
  if (comm.size() == 1) return;
  for (const auto& [what, text] : items) {
    const std::string digest = sha256_hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    const unsigned long long h = std::stoull(digest.substr(0, 15), nullptr, 16);
    unsigned long long lo = h, hi = h;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm.comm()));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm.comm()));
    HPCNN_CHECK(lo == hi, "ranks disagree on the ", what, ": every rank must be started with the same ", what,
                " (this rank's: ", text.substr(0, 120), ")");
  }
}
/// RUN_DIR/run.json: what ran, where and with what (rank 0 writes it).
void write_run_manifest(const TrainConfig& c, comm::Communicator* comm, int64_t global_batch,
                        const std::string& backend_name) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const int world = comm != nullptr ? comm->size() : 1;
  std::vector<char> hosts(static_cast<size_t>(world) * 256, '\0');
  if (comm != nullptr) {
    MPI_CHECK(MPI_Gather(host, 256, MPI_CHAR, hosts.data(), 256, MPI_CHAR, 0, comm->comm()));
  } else {
    std::copy_n(host, 256, hosts.data());
  }
  if (comm != nullptr && comm->rank() != 0) return;
  nlohmann::json host_list = nlohmann::json::array();
  for (int r = 0; r < world; ++r) host_list.push_back(std::string(hosts.data() + r * 256));
  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(mpi_version, &len);
  std::string mpi(mpi_version, static_cast<size_t>(len));
  unsigned h5[3] = {0, 0, 0};
  H5get_libversion(&h5[0], &h5[1], &h5[2]);
  const std::time_t now = std::time(nullptr);
  char started[32];
  std::strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
  const nlohmann::json j{
      {"format", "hpcnn-run"}, {"version", 1}, {"started", started}, {"hpcnn", version_string()},
      {"git_revision", git_revision()}, {"compiler", compiler_string()},
      {"config",
       {{"data", c.data_dir.string()}, {"model", c.model}, {"epochs", c.epochs}, {"batch", c.batch},
        {"global_batch", global_batch}, {"optimizer", model::optimizer_name(c.optimizer.kind)},
        {"lr", c.optimizer.lr}, {"seed", c.seed}, {"threads", c.threads}, {"allreduce", c.allreduce},
        {"max_steps", c.max_steps}, {"validation_split", c.validation_split}}},
      {"world_size", world}, {"nodes", comm != nullptr ? comm->num_nodes() : 1}, {"hosts", host_list},
      {"device", {{"backend", backend_name}, {"kind", "cpu"}}},
      {"libraries", {{"mpi", mpi.substr(0, mpi.find_first_of(",\n"))},
                     {"hdf5", cat(h5[0], ".", h5[1], ".", h5[2])},
                     {"onednn", kernels::onednn_version()}}}};
  std::filesystem::create_directories(c.run_dir);
  write_file_atomic(c.run_dir / "run.json", j.dump(2) + "\n");
}
}  // namespace

TrainResult train(const TrainConfig& c, const Logger& log, comm::Communicator* comm) {
  const int world = comm != nullptr ? comm->size() : 1;
  const int rank = comm != nullptr ? comm->rank() : 0;
  const comm::AllreduceAlgo algo = comm::parse_allreduce(c.allreduce);
  const data::Manifest manifest = data::load_manifest(c.data_dir);
  const bool classification = manifest.task == data::Task::kClassification;
  const model::Shape input{manifest.sample_shape[0], manifest.sample_shape[1], manifest.sample_shape[2]};
  model::ModelSpec spec = model::make_model(c.model, &input);
  const model::LossKind loss_kind =
      classification ? model::LossKind::kSoftmaxCrossEntropy : model::LossKind::kMeanSquaredError;
  check_model_fits(spec, loss_kind, manifest, "model '" + c.model + "'");

  auto backend = make_backend(c.backend, c.threads);
  model::Model net(std::move(spec), loss_kind, *backend, c.seed);
  model::Optimizer optimizer(c.optimizer, *backend, net.num_params());
  const int64_t global_batch = c.global_batch > 0 ? c.global_batch : c.batch * world;
  if (comm != nullptr) {
    std::string shapes;
    for (const model::ParamView& v : net.param_views()) shapes += cat(v.weights_count, "+", v.bias_count, ";");
    check_ranks_agree(*comm, {{"configuration", cat("model=", net.spec().text, " input=", net.spec().input.str(),
                                                    " epochs=", c.epochs, " global_batch=", global_batch,
                                                    " optimizer=", model::optimizer_name(c.optimizer.kind),
                                                    " lr=", c.optimizer.lr, " seed=", c.seed, " allreduce=",
                                                    c.allreduce, " max_steps=", c.max_steps)},
                              {"parameter shapes", shapes},
                              {"dataset manifest", manifest.to_json().dump()}});
    // Rank 0's initial parameters for everyone (they are equal by seed; this makes it so).
    std::vector<float> params = net.params_host();
    MPI_CHECK(MPI_Bcast(params.data(), static_cast<int>(params.size()), MPI_FLOAT, 0, comm->comm()));
    net.set_params_host(params);
  }
  if (rank == 0) log.info(cat("model ", c.model, ": ", net.num_params(), " parameters, backend ", backend->name(), ", dataset ",
               manifest.name, " (", manifest.split("train").num_samples(), " training samples)"));

  // Training / validation ranges.
  data::SplitReader train_reader(c.data_dir, manifest, "train");
  const int64_t n_all = train_reader.num_samples();
  const bool has_val_split = manifest.splits.count("validation") > 0;
  const auto n_holdout = has_val_split ? 0 : static_cast<int64_t>(std::llround(c.validation_split * static_cast<double>(n_all)));
  const int64_t n_train = n_all - n_holdout;
  HPCNN_CHECK(n_train >= 1, "--validation-split ", c.validation_split, " leaves no training samples");
  HPCNN_CHECK(n_train >= world, "cannot train on ", world, " ranks: the dataset has only ", n_train,
              " training samples (every rank needs at least one)");
  HPCNN_CHECK(global_batch >= world, "global batch ", global_batch, " is smaller than the ", world,
              " ranks: every rank needs a sample per step");
  std::optional<data::SplitReader> val_reader;
  if (has_val_split) val_reader.emplace(c.data_dir, manifest, "validation");

  data::SplitInfo train_split = manifest.split("train");
  const data::Sampler sampler(train_split, data::ShardingMode::kHyperslab, 0, 1, c.seed);
  std::vector<int> all_shards(train_split.shards.size());
  std::iota(all_shards.begin(), all_shards.end(), 0);
  if (train_reader.preload_bytes(all_shards) <= c.preload_limit_mb * (int64_t{1} << 20)) {
    train_reader.preload(all_shards);
  }

  std::optional<timing::RankTimingWriter> timer;
  if (!c.run_dir.empty()) {
    write_run_manifest(c, comm, global_batch, backend->name());
    const std::string stem = timing::rank_file_stem(rank);
    timer.emplace(c.run_dir / "timing" / (stem + ".csv"), rank,
                  c.trace ? c.run_dir / "trace" / (stem + ".json") : std::filesystem::path());
  }
  const int64_t allreduce_bytes = world > 1 ? net.num_params() * static_cast<int64_t>(sizeof(float)) : 0;

  TrainResult result;
  result.model = c.model;
  result.params = net.num_params();
  result.world_size = world;
  result.global_batch = global_batch;
  result.allreduce = c.allreduce;
  int64_t global_step = 0;
  const int64_t steps_per_epoch = (n_train + global_batch - 1) / global_batch;
  data::Batch batch;
  if (comm != nullptr) MPI_CHECK(MPI_Barrier(comm->comm()));  // align the ranks' timing clocks
  if (timer) timer->start_clock();
  const auto run_start = Clock::now();
  for (int epoch = 1; epoch <= c.epochs; ++epoch) {
    std::vector<int64_t> order = sampler.epoch_indices(epoch);
    if (n_holdout > 0) std::erase_if(order, [n_train](int64_t i) { return i >= n_train; });
    EpochMetrics em;
    em.epoch = epoch;
    double loss_sum = 0;
    int64_t correct = 0;
    auto last_progress = Clock::now();
    const auto epoch_start = Clock::now();
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      if (c.max_steps > 0 && global_step >= c.max_steps) break;
      // This rank's slice of the global batch [step * G, step * G + len).
      const int64_t first = step * global_batch;
      const int64_t len = std::min(global_batch, n_train - first);
      const auto [lo, hi] = block_range(len, rank, world);
      const int64_t n = hi - lo;
      kernels::LossResult r;
      model::Model::StepTimes st;
      double data_s = 0.0;
      const double t_step = timer ? timer->now() : 0.0;
      if (n > 0) {
        train_reader.read(std::span<const int64_t>(order).subspan(static_cast<size_t>(first + lo), static_cast<size_t>(n)),
                          batch);
        const double t_data = timer ? timer->now() : 0.0;
        r = net.train_step(batch, 1.0f / static_cast<float>(len), epoch, timer ? &st : nullptr);
        data_s = t_data - t_step;
      } else {
        backend->fill(net.grads(), 0.0f, net.num_params());  // a rank with no sample this step adds nothing
      }
      // Every phase gets its row on every rank, zero seconds when it did not run.
      if (timer) {
        timer->record(epoch, step + 1, timing::Phase::kData, t_step, data_s, 0, n);
        timer->record(epoch, step + 1, timing::Phase::kForward, t_step + data_s, st.forward_s, 0, n);
        timer->record(epoch, step + 1, timing::Phase::kBackward, t_step + data_s + st.forward_s, st.backward_s, 0, n);
      }
      const double t_ar = timer ? timer->now() : 0.0;
      if (comm != nullptr && world > 1) {
        comm::allreduce(*comm, algo, net.grads(), net.num_params());
        sum_over_ranks(comm, r.loss_sum, r.correct);
      }
      if (timer) timer->record(epoch, step + 1, timing::Phase::kAllreduce, t_ar, timer->now() - t_ar, allreduce_bytes, n);
      // Every rank sees the same global loss, so all stop together.
      if (!std::isfinite(r.loss_sum)) {
        HPCNN_THROW("non-finite loss at epoch ", epoch, ", step ", step + 1, " (global step ", global_step + 1,
                    "): training diverged or the data holds NaN/Inf; lower --lr (now ", c.optimizer.lr,
                    ") or run hpcnn data verify");
      }
      result.step_losses.push_back(r.loss_sum / static_cast<double>(len));
      const double t_opt = timer ? timer->now() : 0.0;
      optimizer.step(net.params(), net.grads());
      if (timer) {
        const double t_end = timer->now();
        timer->record(epoch, step + 1, timing::Phase::kOptimizer, t_opt, t_end - t_opt, 0, n);
        timer->record(epoch, step + 1, timing::Phase::kStep, t_step, t_end - t_step, allreduce_bytes, n);
        timer->end_step();
      }
      loss_sum += r.loss_sum;
      correct += r.correct;
      em.samples += len;
      ++em.steps;
      ++global_step;
      if (seconds_since(last_progress) >= c.progress_seconds) {
        last_progress = Clock::now();
        const double elapsed = seconds_since(epoch_start);
        const double rate = static_cast<double>(em.samples) / elapsed;
        const double remaining = static_cast<double>(n_train - em.samples) / rate +
                                 static_cast<double>(c.epochs - epoch) * static_cast<double>(n_train) / rate;
        if (rank == 0) log.progress(cat("epoch ", epoch, "/", c.epochs, " step ", step + 1, "/", steps_per_epoch, " loss ",
                         loss_sum / static_cast<double>(em.samples),
                         classification ? cat(" acc ", static_cast<double>(correct) / static_cast<double>(em.samples))
                                        : std::string(),
                         " ", static_cast<int64_t>(rate), " samples/s ETA ", eta_text(remaining)));
      }
    }
    backend->synchronize();
    em.seconds = seconds_since(epoch_start);
    log.end_progress();
    if (em.samples == 0) break;
    em.loss = loss_sum / static_cast<double>(em.samples);
    if (classification) em.accuracy = static_cast<double>(correct) / static_cast<double>(em.samples);
    em.samples_per_second = static_cast<double>(em.samples) / em.seconds;
    if (val_reader) {
      em.validation = evaluate(net, *val_reader, 0, val_reader->num_samples(), c.eval_batch, comm);
    } else if (n_holdout > 0) {
      em.validation = evaluate(net, train_reader, n_train, n_holdout, c.eval_batch, comm);
    }
    if (rank == 0) log.info(cat("epoch ", epoch, "/", c.epochs, ": loss ", em.loss,
                 classification ? cat(" acc ", em.accuracy) : std::string(),
                 em.validation ? cat(" | val loss ", em.validation->loss,
                                     classification ? cat(" val acc ", em.validation->accuracy) : std::string())
                               : std::string(),
                 " | ", static_cast<int64_t>(em.samples_per_second), " samples/s, ", em.seconds, " s"));
    result.train_seconds += em.seconds;
    result.epochs.push_back(em);
    if (!c.checkpoint.empty() && rank == 0) save_checkpoint(c.checkpoint, net, &optimizer, epoch, c.seed);
  }
  if (timer) timer->finish();
  int64_t trained = 0;
  for (const EpochMetrics& e : result.epochs) trained += e.samples;
  result.samples_per_second = result.train_seconds > 0 ? static_cast<double>(trained) / result.train_seconds : 0.0;
  if (c.evaluate_test && manifest.splits.count("test")) {
    data::SplitReader test_reader(c.data_dir, manifest, "test");
    result.test = evaluate(net, test_reader, 0, test_reader.num_samples(), c.eval_batch, comm);
  }
  log.debug(cat("run took ", seconds_since(run_start), " s"));
  if (!c.metrics.empty() && rank == 0) {
    if (c.metrics.has_parent_path()) std::filesystem::create_directories(c.metrics.parent_path());
    write_file_atomic(c.metrics, result.to_json(c).dump(2) + "\n");
  }
  return result;
}

}  // namespace hpcnn::train
