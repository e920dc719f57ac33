// The predictor's worker thread: batches queued inputs through one model.
#include "serve/predictor.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "train/trainer.hpp"

namespace hpcnn::serve {

int Prediction::top_class() const {
  return static_cast<int>(std::max_element(probabilities.begin(), probabilities.end()) - probabilities.begin());
}

nlohmann::json Prediction::to_json(const std::vector<std::string>& class_names, int top_k) const {
  const auto n = static_cast<int>(probabilities.size());
  const auto entry = [&](int k) {
    return nlohmann::json{
        {"class", k},
        {"name", k < static_cast<int>(class_names.size()) ? class_names[static_cast<size_t>(k)] : std::to_string(k)},
        {"probability", probabilities[static_cast<size_t>(k)]}};
  };
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return probabilities[static_cast<size_t>(a)] > probabilities[static_cast<size_t>(b)];
  });
  nlohmann::json top = nlohmann::json::array();
  for (int i = 0; i < std::clamp(top_k, 1, n); ++i) top.push_back(entry(order[static_cast<size_t>(i)]));
  nlohmann::json j = entry(order[0]);
  j["top"] = std::move(top);
  j["probabilities"] = probabilities;
  return j;
}

Predictor::Predictor(const train::Checkpoint& checkpoint, const PredictorConfig& config)
    : Predictor(std::vector<const train::Checkpoint*>{&checkpoint}, config) {}

Predictor::Predictor(const std::vector<const train::Checkpoint*>& checkpoints, const PredictorConfig& config)
    : config_(config) {
  HPCNN_CHECK(!checkpoints.empty(), "predictor: no checkpoint");
  input_ = checkpoints.front()->input;
  members_ = static_cast<int>(checkpoints.size());
  for (const train::Checkpoint* checkpoint : checkpoints) {
    HPCNN_CHECK(checkpoint->loss == model::LossKind::kSoftmaxCrossEntropy, "checkpoint model '", checkpoint->model_name,
                "' was trained with ", model::loss_name(checkpoint->loss),
                " (regression): prediction needs a classifier");
    HPCNN_CHECK(checkpoint->input == input_, "ensemble: model '", checkpoint->model_name, "' takes ",
                checkpoint->input.str(), ", the first one ", input_.str());
  }
  HPCNN_CHECK(config.max_batch >= 1, "predictor: max_batch must be positive");
  std::future<void> ready = ready_.get_future();
  worker_ = std::thread([this, &checkpoints] { run(checkpoints); });
  try {
    ready.get();
  } catch (...) {
    worker_.join();
    throw;
  }
}

Predictor::~Predictor() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

std::vector<Prediction> Predictor::predict(const std::vector<std::vector<float>>& inputs) {
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<std::future<Prediction>> results;
  for (const std::vector<float>& input : inputs) {
    HPCNN_CHECK(static_cast<int64_t>(input.size()) == input_.size(), "predictor: input of ", input.size(),
                " values for a model that takes ", input_.str(), " = ", input_.size());
    auto job = std::make_shared<Job>();
    job->input = &input;
    results.push_back(job->result.get_future());
    jobs.push_back(std::move(job));
  }
  {
    const std::lock_guard lock(mutex_);
    for (auto& job : jobs) queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  std::vector<Prediction> out;
  out.reserve(results.size());
  for (auto& r : results) out.push_back(r.get());
  return out;
}

void Predictor::run(const std::vector<const train::Checkpoint*>& checkpoints) {
  // Built here, not in the constructor: the backend's thread count applies to this thread.
  // The backend also sets this thread's OpenMP thread count, which the folded engine's host ops use.
  std::unique_ptr<kernels::Backend> backend;
  struct Member {
    std::unique_ptr<model::Model> net;
    std::unique_ptr<quant::Graph> graph;
    std::unique_ptr<quant::Engine> engine;
  };
  std::vector<Member> members(checkpoints.size());
  try {
    backend = kernels::make_backend(config_.backend, config_.threads);
    folded_ = config_.folded && config_.backend == kernels::BackendKind::kOnednn;
    for (size_t m = 0; m < checkpoints.size(); ++m) {
      const train::Checkpoint& checkpoint = *checkpoints[m];
      int classes = 0;
      if (folded_) {
        const model::ModelSpec spec = model::resolve(checkpoint.model_name, checkpoint.model_text, checkpoint.input);
        members[m].graph = std::make_unique<quant::Graph>(quant::fold(spec, checkpoint.loss, checkpoint.params));
        members[m].engine = std::make_unique<quant::Engine>(*members[m].graph, config_.threads);
        classes = static_cast<int>(spec.output().size());
      } else {
        members[m].net = train::restore_model(checkpoint, *backend);
        classes = static_cast<int>(members[m].net->spec().output().size());
      }
      HPCNN_CHECK(m == 0 || classes == num_classes_, "ensemble: model '", checkpoint.model_name, "' has ", classes,
                  " classes, the first one ", num_classes_);
      num_classes_ = classes;
    }
  } catch (...) {
    ready_.set_exception(std::current_exception());
    return;
  }
  ready_.set_value();  // `checkpoints` may be gone from here on

  const int64_t elems = input_.size();
  data::Batch batch;
  std::vector<float> logits;
  std::vector<double> probabilities;  // n x classes, summed over the members
  for (;;) {
    std::vector<std::shared_ptr<Job>> jobs;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to answer
      while (!queue_.empty() && static_cast<int64_t>(jobs.size()) < config_.max_batch) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const auto n = static_cast<int64_t>(jobs.size());
    try {
      batch.count = n;
      batch.samples.resize(static_cast<size_t>(n * elems));
      for (int64_t s = 0; s < n; ++s) {
        std::copy(jobs[static_cast<size_t>(s)]->input->begin(), jobs[static_cast<size_t>(s)]->input->end(),
                  batch.samples.begin() + s * elems);
      }
      batch.labels.assign(static_cast<size_t>(n), 0);  // evaluate() computes a loss; the labels are unused
      batch.indices.resize(static_cast<size_t>(n));
      std::iota(batch.indices.begin(), batch.indices.end(), int64_t{0});
      probabilities.assign(static_cast<size_t>(n * num_classes_), 0.0);
      for (Member& member : members) {
        if (member.engine) {
          member.engine->evaluate(batch, &logits);
        } else {
          member.net->evaluate(batch, &logits);
        }
        // Softmax per sample, in double, max-subtracted.
        for (int64_t s = 0; s < n; ++s) {
          const float* z = logits.data() + s * num_classes_;
          const double zmax = *std::max_element(z, z + num_classes_);
          double* p = probabilities.data() + s * num_classes_;
          std::vector<double> e(static_cast<size_t>(num_classes_));
          double sum = 0.0;
          for (int k = 0; k < num_classes_; ++k)
            sum += e[static_cast<size_t>(k)] = std::exp(static_cast<double>(z[k]) - zmax);
          for (int k = 0; k < num_classes_; ++k) p[k] += e[static_cast<size_t>(k)] / sum;
        }
      }
    } catch (...) {
      for (auto& job : jobs) job->result.set_exception(std::current_exception());
      continue;
    }
    for (int64_t s = 0; s < n; ++s) {
      Prediction p;
      p.probabilities.assign(probabilities.begin() + s * num_classes_, probabilities.begin() + (s + 1) * num_classes_);
      if (members.size() > 1) {
        for (double& v : p.probabilities) v /= static_cast<double>(members.size());
      }
      jobs[static_cast<size_t>(s)]->result.set_value(std::move(p));
    }
  }
}

}  // namespace hpcnn::serve
