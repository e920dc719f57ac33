// Helpers for model tests: a random batch for a model.
#pragma once

#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/model.hpp"

namespace hpcnn::test {

/// `n` samples of uniform [0, 1) inputs for `m`, with random labels
/// (classification) or one uniform target per output (regression); global
/// sample indices first_index, first_index + 1, ...
inline data::Batch random_batch(const model::ModelSpec& m, int64_t n, model::LossKind loss, uint64_t key,
                                int64_t first_index = 0) {
  Rng rng(key);
  data::Batch b;
  b.count = n;
  b.samples.resize(static_cast<size_t>(n * m.input.size()));
  for (float& x : b.samples) x = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < n; ++i) {
    b.indices.push_back(first_index + i);
    if (loss == model::LossKind::kSoftmaxCrossEntropy) {
      b.labels.push_back(static_cast<int32_t>(rng.uniform_index(static_cast<uint64_t>(m.output().size()))));
    } else {
      for (int64_t t = 0; t < m.output().size(); ++t) b.targets.push_back(static_cast<float>(rng.uniform()));
    }
  }
  return b;
}

}  // namespace hpcnn::test
