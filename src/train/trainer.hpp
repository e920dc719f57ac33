// Single-process training and evaluation loops (MPI comes with the
// data-parallel issue; the loop is already written against a rank/world).
//
// One epoch: the sampler's seeded permutation of the training indices, cut
// into batches of --batch (the last one may be smaller, as in Keras); each
// batch is read, run forward/backward and the optimizer steps. Validation and
// test evaluation run without dropout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"

namespace hpcnn::data {
class SplitReader;
}

namespace hpcnn::train {

struct TrainConfig {
  std::filesystem::path data_dir;
  std::string model = "keras-cnn";
  int epochs = 1;
  int64_t batch = 128;
  model::OptimizerConfig optimizer;
  uint64_t seed = 42;
  int threads = 0;                      ///< 0: the runtime's default
  std::string backend = "onednn";       ///< onednn | reference
  double validation_split = 0.0;        ///< hold out the last fraction of train when the dataset has no validation split
  int64_t max_steps = 0;                ///< stop after this many steps in total (0: run all epochs)
  int64_t eval_batch = 500;
  bool evaluate_test = true;
  int64_t preload_limit_mb = 4096;      ///< preload the training shards when they fit
  std::filesystem::path checkpoint;     ///< written after every epoch when set
  std::filesystem::path metrics;        ///< JSON written at the end when set
  double progress_seconds = 2.0;
};

struct EvalMetrics {
  int64_t samples = 0;
  double loss = 0.0;      ///< mean per-sample loss (cross-entropy or MSE)
  double accuracy = -1;   ///< classification only (-1 otherwise)
  double seconds = 0.0;
  nlohmann::json to_json() const;
};

struct EpochMetrics {
  int epoch = 0;
  int64_t steps = 0;
  int64_t samples = 0;
  double loss = 0.0, accuracy = -1;
  double seconds = 0.0;            ///< training steps only (no evaluation)
  double samples_per_second = 0.0;
  std::optional<EvalMetrics> validation;
  nlohmann::json to_json() const;
};

struct TrainResult {
  std::string model;
  int64_t params = 0;
  std::vector<EpochMetrics> epochs;
  std::optional<EvalMetrics> test;
  double train_seconds = 0.0;
  double samples_per_second = 0.0;  ///< over all training steps
  nlohmann::json to_json(const TrainConfig& config) const;
};

/// Creates the backend named in the config ("onednn", "reference").
std::unique_ptr<kernels::Backend> make_backend(const std::string& name, int threads);

/// Mean loss / accuracy of `model` over samples [first, first + count) of `reader`.
EvalMetrics evaluate(model::Model& model, data::SplitReader& reader, int64_t first, int64_t count, int64_t batch);

TrainResult train(const TrainConfig& config, const Logger& log);

}  // namespace hpcnn::train
