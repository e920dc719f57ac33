// Checkpoints: one HDF5 file with everything needed to predict or resume.
//
//   /params                       float32 (P,)  the flat parameter buffer
//   /layers/NN_kind/weights       float32       per-layer views of it, in their natural shape
//   /layers/NN_kind/bias          float32       (absent for a conv without bias)
//   /layers/NN_bn/gamma, beta, moving_mean, moving_variance   float32 (C,) batch norm (Keras's names)
//   /optimizer/a, /optimizer/b    float32 (Q,)  Adam m and v (SGD: velocity, and no b) of the trainable
//                                               parameters: the last Q = P - trainable_offset
//   every dataset: attribute sha256, the SHA-256 (hex) of its bytes as written (version 2)
//   root attributes               format, version (2; 1 before checksums), model_name, model_text, input_shape, loss,
//                                 epoch, seed, num_params, optimizer, lr, beta1, beta2,
//                                 epsilon, momentum, optimizer_steps, trainable_offset,
//                                 frozen_layers (--freeze; 0 when absent); and, when trained
//                                 on a dataset: dataset, sample_dtype, class_names (JSON)
//   /train_state/history          uint8 (n,)    JSON text: the trainer's history (resume only)
//   /train_state/step_losses      float64 (S,)  the loss of every global step so far
//   root attributes of a resumable checkpoint: global_step, steps_in_epoch, epoch_done
// The dataset attributes let `hpcnn predict` / `serve` name the classes and
// scale pixels as training did without the dataset at hand.
// The random state is (seed, epoch): every random draw in training is keyed
// by it, so those two numbers restore it exactly. Written to a temporary name
// and renamed: a crash never leaves a half checkpoint under the real name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.hpp"
#include "model/optimizer.hpp"

namespace hpcnn::data {
struct Manifest;
}

namespace hpcnn::train {

/// Where a training run stands, so that resuming it continues exactly the
/// same computation. Everything random in training is keyed by (seed, epoch,
/// global sample index), so the position (epoch, steps_in_epoch) restores the
/// sampler's order and the dropout streams; the optimizer state is the rest.
struct TrainState {
  int64_t global_step = 0;     ///< optimizer steps taken so far
  int64_t epoch = 1;           ///< the epoch in progress, or the one just finished when epoch_done
  int64_t steps_in_epoch = 0;  ///< steps of `epoch` already taken
  bool epoch_done = false;     ///< `epoch` is finished, its validation included
  /// The trainer's history: finished epochs' metrics, the partial sums of the
  /// epoch in progress, seconds trained, and the resolved configuration.
  nlohmann::json history = nlohmann::json::object();
  std::vector<double> step_losses;  ///< one per global step
};

struct Checkpoint {
  std::string model_name;
  std::string model_text;
  model::Shape input;
  model::LossKind loss = model::LossKind::kSoftmaxCrossEntropy;
  int64_t epoch = 0;
  uint64_t seed = 0;
  std::vector<float> params;
  model::OptimizerConfig optimizer;
  int64_t optimizer_steps = 0;
  std::vector<float> optimizer_a, optimizer_b;  ///< the trainable part: params.size() - trainable_offset
  int64_t trainable_offset = 0;                 ///< --freeze: the frozen layers' parameter count
  int64_t frozen_layers = 0;
  // What the model was trained on (empty in checkpoints written before these were recorded).
  std::string dataset_name;
  std::string sample_dtype;              ///< "uint8" or "float32"
  std::vector<std::string> class_names;  ///< classification only
  std::optional<TrainState> state;       ///< present in checkpoints a run can resume from
  bool checksums_verified = false;       ///< false: a version 1 file, written before checksums
};

/// An optimizer's state as a checkpoint stores it: the full vectors of the
/// trainable parameters. A sharded optimizer (--shard-optimizer) holds only
/// its slices; the trainer gathers them into this on one rank before saving.
struct OptimizerState {
  model::OptimizerConfig config;
  int64_t steps = 0;
  std::vector<float> a, b;  ///< Adam m and v (SGD: velocity, b empty)
};

/// The same handed to the writer piece by piece (issue 30: the writer never
/// holds a full state vector it does not already own). each_chunk(sink)
/// calls sink(vector, first, values) for vector 0 (a), then Adam's 1 (b):
/// each vector's chunks in ascending order, contiguous, covering [0, Q)
/// (at least one call per vector, an empty one when Q is 0); each span is
/// valid during its call only. A CPU backend's unsharded state comes as one
/// chunk per vector, in place; a sharded optimizer's in blocks of about
/// 1 MiB as they arrive from their owners, so rank 0 holds one block, not
/// one full vector (the file is the same). It may be collective: the writer
/// calls it exactly once, also when the write failed before (then with a
/// sink that drops the chunks), so the other ranks never wait for it.
struct OptimizerStateStream {
  using Sink = std::function<void(int vector, int64_t first, std::span<const float> values)>;
  model::OptimizerConfig config;
  int64_t steps = 0;
  std::function<void(const Sink& sink)> each_chunk;
};

/// `dataset` (optional) records the training data's name, sample type and
/// class names; `state` (optional) makes the checkpoint resumable. Written to
/// PATH.tmp.PID and renamed: on any failure the temporary is removed and the
/// previous file at `path` (if any) is left as it was.
void save_checkpoint(const std::filesystem::path& path, const model::Model& model, const model::Optimizer* optimizer,
                     int64_t epoch, uint64_t seed, const data::Manifest* dataset = nullptr,
                     const TrainState* state = nullptr);
/// The same with the optimizer's state given as full vectors (one file in the
/// same format, whoever held the state).
void save_checkpoint(const std::filesystem::path& path, const model::Model& model, const OptimizerState& optimizer,
                     int64_t epoch, uint64_t seed, const data::Manifest* dataset = nullptr,
                     const TrainState* state = nullptr);
/// The same with the optimizer's state streamed (OptimizerStateStream).
void save_checkpoint(const std::filesystem::path& path, const model::Model& model,
                     const OptimizerStateStream& optimizer, int64_t epoch, uint64_t seed,
                     const data::Manifest* dataset = nullptr, const TrainState* state = nullptr);
/// The one way a checkpoint is read (resume, predict, infer, serve, quantize,
/// --init-from): every dataset is checked against its SHA-256 attribute, and
/// NaN or infinite parameters or optimizer state are refused. A version 1
/// file (no checksums) loads with a one-line warning unless `warn_unverified`
/// is false.
Checkpoint load_checkpoint(const std::filesystem::path& path, bool warn_unverified = true);

/// Whether `path` is an HDF5 file hpcnn wrote: its root "format" attribute
/// starts with "hpcnn-" (a checkpoint, an inference file, a shard).
bool hpcnn_hdf5_file(const std::filesystem::path& path);

/// Checked before a run writes anything: the final checkpoint path must be a
/// regular file or absent (`--checkpoint /dev/null` replaced the device),
/// never inside the dataset `data_dir` (onto a shard) nor `init_from`; an
/// existing file that is not hpcnn's HDF5 and not in `run_dir` needs `force`.
void check_checkpoint_path(const std::filesystem::path& checkpoint, const std::filesystem::path& run_dir,
                           const std::filesystem::path& data_dir, const std::filesystem::path& init_from, bool force);

/// Builds the checkpoint's model on `backend` with its parameters loaded.
/// Throws when the stored parameter count disagrees with the model string.
std::unique_ptr<model::Model> restore_model(const Checkpoint& ckpt, kernels::Backend& backend);

}  // namespace hpcnn::train
