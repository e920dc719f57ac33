// Three of the training run's named set-up steps (trainer.cpp's constructor
// calls them in this order after the model and the exchange exist): every
// rank takes rank 0's weights (and, resuming, its optimizer state), the data
// is opened and cached as --cache-mb allows, and the run record (run.json,
// this rank's timing file and trace) is started.
#include "train/training_run.hpp"

#include <algorithm>
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

void TrainingRun::broadcast_start() {
  // Every rank starts from rank 0's weights (and, resuming, its optimizer state).
  std::string shapes;
  for (const model::ParamView& v : net_->param_views()) shapes += cat(v.weights_count, "+", v.bias_count, ";");
  check_ranks_agree(comm_, {{"parameter shapes", shapes}});
  broadcast_params(comm_, *backend_, net_->params(), net_->num_params());
  if (resume_) {  // rank 0's checkpoint state: every rank takes what it keeps (its slices, sharded)
    static const std::vector<float> kNone;
    update_->restore(world_ > 1 ? resume_->global_step : resume_ckpt_->optimizer_steps,
                     resume_ckpt_ ? resume_ckpt_->optimizer_a : kNone,
                     resume_ckpt_ ? resume_ckpt_->optimizer_b : kNone);
  }
}

void TrainingRun::open_data() {
  // Training / validation ranges.
  train_reader_ = std::make_unique<data::SplitReader>(c_.data_dir, manifest_, "train");
  const TrainSplit ranges = train_split(c_, manifest_);  // pre-flight refused one without training samples
  n_train_ = ranges.train;
  n_holdout_ = ranges.holdout;
  if (manifest_.splits.count("validation") > 0)
    val_reader_ = std::make_unique<data::SplitReader>(c_.data_dir, manifest_, "validation");
  if (c_.augment.enabled()) augment_.emplace(c_.augment, c_.seed, manifest_);
  // What this rank reads: every shard (global) or its own (local). They are
  // preloaded when they fit in --cache-mb; otherwise read through a bounded
  // cache (local: whole blocks, each once per epoch; global: HDF5's chunk
  // cache, shared out among the shards).
  // The plan of the first epoch to run (epoch() uses it, not a second copy).
  const data::EpochPlan& first_plan = plan_for(start_position().first);
  steps_per_epoch_ = first_plan.steps();
  const std::vector<int>& my_shards = first_plan.shards();
  cache_bytes_ = c_.cache_mb * (int64_t{1} << 20);
  const bool preload = train_reader_->preload_bytes(my_shards) <= cache_bytes_;
  if (!preload && c_.sampling == data::SamplingMode::kLocal) {
    // A shuffle window is visited sample by sample: all of its blocks must stay cached.
    const int64_t window_bytes = (c_.shuffle_window + 1) * data::kBlockRows * train_reader_->bytes_per_sample();
    if (window_bytes > cache_bytes_ && rank_ == 0) {
      log_.info(cat("data: --cache-mb ", c_.cache_mb, " cannot hold a shuffle window of ", c_.shuffle_window,
                    " blocks: the block cache takes ", (window_bytes + (1 << 20) - 1) >> 20, " MB"));
    }
    train_reader_->set_block_cache(std::max(cache_bytes_, window_bytes));
  } else if (!preload) {
    train_reader_->set_chunk_cache_bytes(static_cast<size_t>(std::max<int64_t>(
        int64_t{1} << 20, cache_bytes_ / std::max<int64_t>(1, static_cast<int64_t>(my_shards.size())))));
  }
  if (rank_ == 0) {
    log_.info(cat(
        "data: ", data::sampling_mode_name(c_.sampling), " sampling, rank 0 reads ", my_shards.size(), " of ",
        manifest_.split("train").shards.size(), " shard(s), ",
        preload ? "preloaded" : (c_.sampling == data::SamplingMode::kLocal ? "through a block cache" : "from storage"),
        c_.prefetch > 0 ? cat(", ", c_.prefetch, " batches read ahead") : std::string(", read in the step")));
  }
  if (c_.verify_data == TrainConfig::VerifyData::kAlways ||
      (c_.verify_data == TrainConfig::VerifyData::kAuto && preload)) {
    mark(RunPhase::kData);
    std::vector<std::string> splits;
    for (const auto& [name, split] : manifest_.splits) splits.push_back(name);
    data::verify_checksums(c_.data_dir, manifest_, splits);
  }
  if (preload) train_reader_->preload(my_shards);
}

void TrainingRun::open_run_record() {
  // The run directory: run.json, then this rank's timing file.
  result_.model = c_.model;
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
  if (!c_.run_dir.empty()) {
    nlohmann::json manifest = run_manifest(c_, comm_, global_batch_, algo_, bucket_mb_, *backend_);
    if (run_dir_) {
      nlohmann::json resumes = decision_.resume ? decision_.previous_resumes : nlohmann::json::array();
      if (resume_) resumes.push_back({{"from_step", resume_->global_step}, {"world_size", world_}, {"at", now_text()}});
      manifest["resumes"] = resumes;
      // `auto`: which algorithm the cost model picked for a reduction block
      // and what it predicted for each (docs/formats.md, run.json).
      if (c_.allreduce == comm::AllreduceAlgo::kAuto && algo_ != comm::AllreduceAlgo::kNccl && world_ > 1)
        manifest["allreduce_auto"] = comm::auto_choice_json(comm_, std::min(net_->num_params(), comm::kReduceBlock));
      run_dir_->write_manifest(manifest, RunStatus::kRunning);
    }
    const std::string stem = timing::rank_file_stem(rank_);
    std::optional<timing::ResumePoint> keep;
    if (resume_ && decision_.previous_world_size == world_) {
      keep = timing::ResumePoint{resume_->epoch, resume_->steps_in_epoch};
    }
    timer_.emplace(c_.run_dir / "timing" / (stem + ".csv"), rank_,
                   c_.trace ? c_.run_dir / "trace" / (stem + ".json") : std::filesystem::path(), keep);
    timeline_ = StepTimeline(&*timer_);
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
}

}  // namespace hpcnn::train
