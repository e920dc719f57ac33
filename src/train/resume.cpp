// The run directory's verdict and resumable checkpoints of a training run
// (see training_run.hpp): rank 0 decides whether the run directory holds a
// run to continue and checks it may be, every rank learns the verdict; the
// training state a checkpoint carries, and where the run starts again.
#include <system_error>

#include "core/error.hpp"
#include "train/preflight.hpp"
#include "train/training_run.hpp"

namespace hpcnn::train {

void TrainingRun::prepare_run_directory(const nlohmann::json& resolved) {
  // Rank 0 decides; every rank learns the verdict (or the same error).
  std::string error;
  nlohmann::json verdict;
  if (rank_ == 0) {
    try {
      // Pre-flight (check_outputs) has checked --checkpoint's path and that it and the run directory can be written.
      run_dir_ = std::make_unique<RunDirectory>(c_.run_dir, c_.checkpoint);
      decision_ = run_dir_->prepare(c_.resume, c_.force, c_.checkpoint, c_.restart_from_scratch);
      if (decision_.resume) {
        resume_ckpt_ = load_checkpoint(decision_.checkpoint);
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
        if (decision_.previous_world_size != world_ && decision_.previous_world_size > 0) {
          // Other ranks' files would not line up: keep the old timing aside.
          std::error_code ec;
          std::filesystem::rename(c_.run_dir / "timing", c_.run_dir / cat("timing-before-resume-", s.global_step), ec);
        }
        verdict["state"] = state_to_json(s);
      }
      verdict["resume"] = decision_.resume;
      verdict["note"] = decision_.note;
      verdict["previous_world_size"] = decision_.previous_world_size;
      verdict["checkpoint_step"] = decision_.checkpoint_step;
    } catch (const Error& e) {
      error = e.message();
      run_dir_.reset();
    } catch (const std::exception& e) {
      error = e.what();
      run_dir_.reset();
    }
  }
  if (world_ > 1) {
    error = comm_.broadcast(error);
    const std::string text = comm_.broadcast(error.empty() ? verdict.dump() : std::string("{}"));
    if (rank_ != 0) verdict = nlohmann::json::parse(text);
  }
  if (!error.empty()) {
    // Rank 0 reports; the others end quietly with it.
    if (rank_ == 0) throw Error(error, __FILE__, __LINE__);
    throw Error(cat("rank 0 stopped: ", error), __FILE__, __LINE__);
  }
  decision_.resume = verdict.value("resume", false);
  decision_.note = verdict.value("note", std::string());
  decision_.previous_world_size = verdict.value("previous_world_size", 0);
  decision_.checkpoint_step = verdict.value("checkpoint_step", int64_t{0});
  if (decision_.resume) resume_ = state_from_json(verdict["state"]);
  if (rank_ == 0) log_.info(decision_.note);
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
  // Sharded, the state is gathered one window at a time while rank 0 writes
  // (issue 30): the other ranks take part in those gathers, then return.
  const OptimizerStateStream optimizer = update_->state_stream();
  if (rank_ != 0) {
    optimizer.each_chunk([](int, int64_t, std::span<const float>) {});
    return;
  }
  mark(RunPhase::kCheckpoint, epoch, steps_in_epoch);
  TrainState state;
  state.global_step = global_step_;
  state.epoch = epoch;
  state.steps_in_epoch = steps_in_epoch;
  state.epoch_done = epoch_done;
  state.history = history(progress, drop_last_epoch);
  state.step_losses = result_.step_losses;
  save_checkpoint(path, *net_, optimizer, epoch, c_.seed, &manifest_, &state);
  if (path.parent_path() == c_.run_dir / "checkpoints") prune_checkpoints(c_.run_dir, c_.keep_checkpoints);
}

std::pair<int, int64_t> TrainingRun::start_position() const {
  if (!resume_) return {1, 0};
  if (resume_->epoch_done) return {static_cast<int>(resume_->epoch) + 1, 0};
  return {static_cast<int>(resume_->epoch), resume_->steps_in_epoch};
}

}  // namespace hpcnn::train
