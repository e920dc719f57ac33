// Evaluation: a model's mean loss and accuracy over a range of a split,
// split over the ranks (see trainer.hpp: evaluate, check_model_fits).
#include <chrono>
#include <numeric>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "train/trainer.hpp"

namespace hpcnn::train {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Adds each rank's loss sum and correct count into the job's totals (in place).
void sum_over_ranks(comm::Communicator* comm, double& loss_sum, int64_t& correct) {
  if (comm == nullptr || comm->size() == 1) return;
  double sums[2] = {loss_sum, static_cast<double>(correct)};
  comm->sum(sums, 2);
  loss_sum = sums[0];
  correct = static_cast<int64_t>(sums[1]);
}
}  // namespace

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

}  // namespace hpcnn::train
