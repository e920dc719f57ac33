// Checkpoints: one HDF5 file with everything needed to predict or resume.
//
//   /params                       float32 (P,)  the flat parameter buffer
//   /layers/NN_kind/weights       float32       per-layer views of it, in their natural shape
//   /layers/NN_kind/bias          float32
//   /optimizer/a, /optimizer/b    float32 (P,)  Adam m and v (SGD: velocity, and no b)
//   root attributes               format, version, model_name, model_text, input_shape, loss,
//                                 epoch, seed, num_params, optimizer, lr, beta1, beta2,
//                                 epsilon, momentum, optimizer_steps; and, when trained
//                                 on a dataset: dataset, sample_dtype, class_names (JSON)
// The dataset attributes let `hpcnn predict` / `serve` name the classes and
// scale pixels as training did without the dataset at hand.
// The random state is (seed, epoch): every random draw in training is keyed
// by it, so those two numbers restore it exactly. Written to a temporary name
// and renamed: a crash never leaves a half checkpoint under the real name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/optimizer.hpp"

namespace hpcnn::data {
struct Manifest;
}

namespace hpcnn::train {

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
  std::vector<float> optimizer_a, optimizer_b;
  // What the model was trained on (empty in checkpoints written before these were recorded).
  std::string dataset_name;
  std::string sample_dtype;              ///< "uint8" or "float32"
  std::vector<std::string> class_names;  ///< classification only
};

/// `dataset` (optional) records the training data's name, sample type and class names.
void save_checkpoint(const std::filesystem::path& path, const model::Model& model, const model::Optimizer* optimizer,
                     int64_t epoch, uint64_t seed, const data::Manifest* dataset = nullptr);
Checkpoint load_checkpoint(const std::filesystem::path& path);

/// Builds the checkpoint's model on `backend` with its parameters loaded.
/// Throws when the stored parameter count disagrees with the model string.
std::unique_ptr<model::Model> restore_model(const Checkpoint& ckpt, kernels::Backend& backend);

}  // namespace hpcnn::train
