// A trained classifier answering requests from many threads.
//
// The model, its backend and its oneDNN/OpenMP state belong to one worker
// thread, created with it: a Model is not thread-safe, and OpenMP's thread
// count (omp_set_num_threads, set by the backend) is per calling thread, so
// the thread that sets it must be the one that computes. Callers queue their
// inputs and wait; the worker takes everything queued (up to max_batch) as
// one batch, so concurrent HTTP requests share forward passes instead of
// queueing behind a lock one by one.
//
// With PredictorConfig::folded (oneDNN only) the worker runs the model folded
// for inference (quant::fold + quant::Engine, FP32: dropout and flatten gone,
// ReLU fused into the layer before it) instead of the training Model. For the
// math-symbols CNN on a 12-glyph /transcribe request it was no cheaper: 0.82x
// and 1.09x of the Model's server-side milliseconds in two alternated runs
// on the shared 2 cores (results/math/README.md), the forward pass being a
// small part of a request; so the Model stays the default.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend.hpp"
#include "model/model_spec.hpp"
#include "quant/inference_graph.hpp"
#include "train/checkpoint.hpp"

namespace hpcnn::serve {

/// Class probabilities for one input (softmax of the model's logits).
struct Prediction {
  std::vector<double> probabilities;

  int top_class() const;
  /// {"class", "name", "probability", "top": [k best], "probabilities": [all]}
  /// (docs/formats.md, "Predictions"). One serialisation for predict --json and /predict.
  nlohmann::json to_json(const std::vector<std::string>& class_names, int top_k) const;
};

struct PredictorConfig {
  kernels::BackendKind backend = kernels::BackendKind::kOnednn;
  int threads = 1;         ///< compute threads of the worker (0: the runtime's default)
  int64_t max_batch = 32;  ///< most inputs per forward pass
  /// oneDNN only: run the folded inference graph instead of the training Model.
  bool folded = false;
};

class Predictor {
 public:
  /// Builds the checkpoint's model on the worker thread; throws what that throws
  /// (unknown backend, parameter count mismatch) and unless it is a classifier.
  Predictor(const train::Checkpoint& checkpoint, const PredictorConfig& config);
  /// An ensemble: every checkpoint's model (the same input shape and class
  /// count) classifies each batch, and a prediction's probabilities are the
  /// mean of their softmaxes. One checkpoint is the constructor above.
  Predictor(const std::vector<const train::Checkpoint*>& checkpoints, const PredictorConfig& config);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  const model::Shape& input_shape() const { return input_; }
  /// Whether the worker runs the folded inference graph (see above).
  bool folded() const { return folded_; }
  int num_classes() const { return num_classes_; }
  /// Models whose probabilities are averaged (1 unless an ensemble).
  int members() const { return members_; }

  /// Classifies each input (input_shape().size() floats); thread-safe, blocks
  /// until done. Throws what the forward pass throws.
  std::vector<Prediction> predict(const std::vector<std::vector<float>>& inputs);

 private:
  /// Shared by the caller and the worker, so neither outlives the other's use of it.
  struct Job {
    const std::vector<float>* input = nullptr;
    std::promise<Prediction> result;
  };
  void run(const std::vector<const train::Checkpoint*>& checkpoints);

  PredictorConfig config_;
  model::Shape input_;
  int num_classes_ = 0;
  bool folded_ = false;
  int members_ = 1;
  std::promise<void> ready_;  ///< the worker's model is built (or failed)
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace hpcnn::serve
