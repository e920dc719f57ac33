// The training loop: a run set up by its constructor as named steps (agree,
// pre-flight, backend, run directory, model, weights broadcast, exchange,
// data, run record), then step / epoch / run. The pieces a reader can take
// one at a time live beside it: train_options (the options table),
// preflight, ranks_agree, run_record, evaluation, transfer, buckets,
// weight_update, memory_breakdown, and run_setup (the set-up steps that
// broadcast the weights, open the data and start the run record).
#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>

#include "comm/allreduce.hpp"
#include "comm/communicator.hpp"
#include "comm/cost_model.hpp"
#include "comm/gradient_reducer.hpp"
#include "comm/nccl/nccl_info.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/dataset.hpp"
#include "data/prefetch.hpp"
#include "timing/timing.hpp"
#include "train/buckets.hpp"
#include "train/checkpoint.hpp"
#include "train/memory_breakdown.hpp"
#include "train/preemption.hpp"
#include "train/preflight.hpp"
#include "train/ranks_agree.hpp"
#include "train/run_dir.hpp"
#include "train/run_record.hpp"
#include "train/step_timeline.hpp"
#include "train/training_run.hpp"
#include "train/transfer.hpp"
#include "train/watchdog.hpp"
#include "train/weight_update.hpp"

namespace hpcnn::train {

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string eta_text(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}
}  // namespace

TrainingRun::TrainingRun(const TrainConfig& c, const Logger& log, comm::Communicator& comm)
    : c_(c),
      log_(log),
      comm_(comm),
      world_(comm.size()),
      rank_(comm.rank()),
      manifest_(data::load_manifest(c.data_dir)),
      classification_(manifest_.task == data::Task::kClassification) {
  // Every rank agrees on what changes results before anything else collective.
  check_ranks_agree(comm_, {{"configuration", c.to_json().dump()}, {"dataset manifest", manifest_.to_json().dump()}});
  // The model on its backend, and its optimizer.
  const model::Shape input{manifest_.sample_shape[0], manifest_.sample_shape[1], manifest_.sample_shape[2]};
  model::ModelSpec spec = model::make_model(c.model, &input);
  const model::LossKind loss_kind =
      classification_ ? model::LossKind::kSoftmaxCrossEntropy : model::LossKind::kMeanSquaredError;
  // Everything that can be refused is, before the run directory or a collective.
  preflight_checks(c, manifest_, spec, loss_kind, world_);
  if (!c.run_dir.empty()) check_outputs(c, comm_);
  kernels::BackendOptions backend_options;
  backend_options.threads = c.threads;
  backend_options.precision = c.precision;
  backend_options.gpu = c.gpu;
  backend_options.allow_tf32 = c.allow_tf32;
  backend_options.local_rank = comm_.node_rank();  // one GPU per rank of the node
  // NCCL reduces device memory: it needs a GPU backend with a stream, and is
  // what `auto` means on one (the MPI algorithms stay available, staged).
  const bool gpu_stream = c.backend == kernels::BackendKind::kCuda;
  backend_ = kernels::make_backend(c.backend, backend_options);
  const int64_t n_params = spec.total_params();
  global_batch_ = c.global_batch > 0 ? c.global_batch : c.batch * world_;
  // The all-reduce, resolved once (`auto` by the size of a reduction block).
  const bool exchange = world_ > 1 && !c.compute_only;
  algo_ = resolve_run_allreduce(comm_, c, n_params, gpu_stream);
  bucket_mb_ = c.bucket_mb >= 0 ? c.bucket_mb : (comm_.num_nodes() > 1 ? kAutoBucketMb : 0.0);

  // The run directory: a new run, or the unfinished one found there resumed.
  if (!c.run_dir.empty()) {
    prepare_run_directory(resolved_config(c, world_, global_batch_, comm::allreduce_name(algo_), bucket_mb_));
  }
  // Shared memory inside a node reduces in place when the gradients live in
  // the node's shared window (host memory only; not sharded: its halves copy).
  float* grads_storage = nullptr;
  if (exchange && !c.shard_optimizer && backend_->device() == kernels::DeviceKind::kCpu && comm_.node_size() > 1 &&
      (algo_ == comm::AllreduceAlgo::kShm || algo_ == comm::AllreduceAlgo::kHier)) {
    grads_storage = comm_.gradient_window(n_params);
  }
  net_ = std::make_unique<model::Model>(std::move(spec), loss_kind, *backend_, c.seed, grads_storage);
  if (!c.freeze.empty()) net_->set_frozen_layers(net_->spec().layer_index(c.freeze) + 1);
  train_offset_ = net_->trainable_offset();
  train_count_ = net_->num_params() - train_offset_;  // > 0: pre-flight refused a --freeze of everything
  buckets_.emplace(train_count_,
                   static_cast<int64_t>(bucket_mb_ * double(1 << 20)) / static_cast<int64_t>(sizeof(float)));
  if (!c.init_from.empty() && !resume_ckpt_ && rank_ == 0) init_from_checkpoint(*net_, c, log);
  // rank 0 holds the checkpoint; broadcast_start hands it on.
  if (resume_ckpt_) net_->set_params_host(resume_ckpt_->params);
  update_ = std::make_unique<WeightUpdate>(comm_, *backend_, *net_, c, algo_, exchange);
  broadcast_start();
  if (rank_ == 0) {
    if (net_->frozen_layers() > 0) {
      log.info(cat("freeze: layers 1-", net_->frozen_layers(), " frozen (", train_offset_,
                   " parameters); training layers ", net_->frozen_layers() + 1, "-", net_->spec().layers.size(), " (",
                   train_count_, " parameters)"));
    }
    log.info(cat("model ", c.model, ": ", net_->num_params(), " parameters, backend ", backend_->name(), ", dataset ",
                 manifest_.name, " (", manifest_.split("train").num_samples(), " training samples)"));
  }

  open_data();
  open_run_record();
}

const data::EpochPlan& TrainingRun::plan_for(int epoch) {
  if (!epoch_plan_ || epoch_plan_->epoch() != epoch) {
    epoch_plan_.emplace(c_.sampling, manifest_.split("train"), n_train_, global_batch_, rank_, world_, c_.seed, epoch,
                        c_.shuffle_window);
  }
  return *epoch_plan_;
}

void TrainingRun::grads_ready(int64_t first, int64_t count) {
  // The reducer sees the trainable part only.
  if (const auto bucket = buckets_->add(first - train_offset_, count)) start_bucket(bucket->first, bucket->second);
}

void TrainingRun::start_bucket(int64_t first, int64_t last) {
  timeline_.bucket_started();
  update_->start(first, last - first);
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
  const double t_step = timeline_.begin(epoch, step_in_epoch + 1, n);
  buckets_->reset();
  model::Model::GradsReadyFn hook;
  if (update_->reducing()) hook = [this](int64_t f, int64_t k) { grads_ready(f, k); };
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
    const double t_data = timeline_.now();
    mark(RunPhase::kCompute, epoch, step_in_epoch + 1);
    out.loss = net_->train_step(batch_, 1.0f / static_cast<float>(len), epoch, timeline_.on() ? &st : nullptr, hook,
                                layer_recorder_ ? &*layer_recorder_ : nullptr);
    data_s = t_data - t_step;
  } else {
    backend_->fill(net_->grads() + train_offset_, 0.0f, train_count_);  // a rank with no sample adds nothing
    buckets_->all_ready();
  }
  // Every phase gets its row on every rank, zero seconds when it did not run.
  const double t_backward = t_step + data_s + st.forward_s;
  timeline_.phase(timing::Phase::kData, t_step, data_s, data_bytes, queue);
  timeline_.phase(timing::Phase::kForward, t_step + data_s, st.forward_s);
  timeline_.phase(timing::Phase::kBackward, t_backward, st.backward_s);
  // Layer spans count from their pass's start, so they nest inside the phase events just recorded.
  if (layer_recorder_) {
    for (const model::LayerRecorder::Span& span : layer_recorder_->take()) {
      const bool fwd = span.pass == model::LayerRecorder::Pass::kForward;
      timeline_.layer(fwd ? timing::Phase::kForward : timing::Phase::kBackward, span.layer,
                      (fwd ? t_step + data_s : t_backward) + span.start_s, span.seconds);
    }
  }
  const double t_wait = timeline_.now();
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
  if (update_->reducing()) {
    if (const auto rest = buckets_->finish()) start_bucket(rest->first, rest->second);  // since the last bucket
    rs = update_->wait();
    double sums[4] = {out.loss.loss_sum, static_cast<double>(out.loss.correct), flags[0], flags[1]};
    comm_.sum(sums, 4);
    out.loss.loss_sum = sums[0];
    out.loss.correct = static_cast<int64_t>(sums[1]);
    flags[0] = sums[2];
    flags[1] = sums[3];
  } else if (world_ > 1) {
    comm_.sum(flags, 2);
  }
  out.stop_signal = stop_signal_from_votes(flags[0]);
  out.checkpoint_due = flags[1] > 0;
  timeline_.phase(timing::Phase::kAllreduce, timeline_.allreduce_start(t_wait), rs.busy_s, rs.bytes);
  timeline_.phase(timing::Phase::kAllreduceWait, t_wait, timeline_.now() - t_wait);
  // Every rank sees the same global loss, so all stop together.
  if (!std::isfinite(out.loss.loss_sum)) {
    HPCNN_THROW("non-finite loss at epoch ", epoch, ", step ", step_in_epoch + 1, " (global step ", global_step_ + 1,
                "): training diverged or the data holds NaN/Inf; lower --lr (now ", c_.optimizer.lr,
                ") or run hpcnn data verify");
  }
  mark(RunPhase::kOptimizer, epoch, step_in_epoch + 1);
  const double t_opt = timeline_.now();
  update_->apply();  // sharded: the all-gather of the weights too, timed as its own phase
  const double t_end = timeline_.now(), gather_s = std::min(update_->all_gather_seconds(), t_end - t_opt);
  timeline_.phase(timing::Phase::kOptimizer, t_opt, t_end - t_opt - gather_s);
  timeline_.phase(timing::Phase::kAllgather, t_end - gather_s, gather_s, update_->all_gather_bytes());
  timeline_.phase(timing::Phase::kStep, t_step, t_end - t_step, rs.bytes);
  timeline_.end();
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
    em.validation = evaluate(*net_, *val_reader_, 0, val_reader_->num_samples(), c_.eval_batch, &comm_, tick);
  } else if (n_holdout_ > 0) {
    em.validation = evaluate(*net_, *train_reader_, n_train_, n_holdout_, c_.eval_batch, &comm_, tick);
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
  comm_.barrier();  // align the ranks' timing clocks
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
    comm_.barrier();
    return result_;
  }
  int64_t trained = 0;
  for (const EpochMetrics& e : result_.epochs) trained += e.samples;
  result_.samples_per_second = result_.train_seconds > 0 ? static_cast<double>(trained) / result_.train_seconds : 0.0;
  if (c_.evaluate_test && manifest_.splits.count("test")) {
    mark(RunPhase::kEvaluate);
    data::SplitReader test_reader(c_.data_dir, manifest_, "test");
    result_.test = evaluate(*net_, test_reader, 0, test_reader.num_samples(), c_.eval_batch, &comm_,
                            [this] { mark(RunPhase::kEvaluate); });
  }
  log_.debug(cat("run took ", seconds_since(run_start), " s"));
  nlohmann::json mine = process_resources(rank_);
  mine["memory"] = memory_breakdown(*net_, (global_batch_ + world_ - 1) / world_, *update_, comm_, mine);
  for (const std::string& text : comm_.gather(mine.dump())) {
    if (!text.empty()) result_.ranks.push_back(nlohmann::json::parse(text));
  }
  if (!c_.metrics.empty() && rank_ == 0) {
    if (c_.metrics.has_parent_path()) std::filesystem::create_directories(c_.metrics.parent_path());
    write_file_atomic(c_.metrics, result_.to_json(c_).dump(2) + "\n");
  }
  if (run_dir_) run_dir_->set_status(RunStatus::kComplete, cat(global_step_, " steps"));
  mark(RunPhase::kFinish);
  comm_.barrier();  // nobody leaves while rank 0 still writes
  return result_;
}

TrainResult train(const TrainConfig& c, const Logger& log, comm::Communicator& comm) {
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
