// The serve tests' shared fixtures (test_serve.cpp, test_expr_serve.cpp): an
// untrained tiny-cnn checkpoint with named classes, and a service
// configuration for it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.hpp"
#include "fixtures.hpp"
#include "model/model.hpp"
#include "serve/service.hpp"
#include "train/checkpoint.hpp"

namespace hpcnn::test {

/// A small untrained classifier of 1x28x28 images (tiny-cnn, 10 classes,
/// initialised from `seed`) saved with a dataset name and class names, and its checkpoint loaded.
struct TinyClassifier {
  ScratchDir dir;
  train::Checkpoint ckpt;
  TinyClassifier(const std::string& dataset, std::vector<std::string> class_names, uint64_t seed = 5)
      : dir("serve-model") {
    auto backend = kernels::make_reference_backend();
    model::Model net(model::make_model("tiny-cnn"), model::LossKind::kSoftmaxCrossEntropy, *backend, seed);
    data::Manifest m;
    m.name = dataset;
    m.class_names = std::move(class_names);
    train::save_checkpoint(dir / "m.h5", net, nullptr, 1, 5, &m);
    ckpt = train::load_checkpoint(dir / "m.h5");
  }
};

/// The service's configuration for `ckpt`: its names, a 256 KiB body limit and a million pixels.
inline serve::ServiceConfig service_config(const train::Checkpoint& ckpt) {
  serve::ServiceConfig c;
  c.model_name = ckpt.model_name;
  c.dataset = ckpt.dataset_name;
  c.class_names = ckpt.class_names;
  c.max_body_bytes = 256 * 1024;
  c.max_image_pixels = 1000 * 1000;
  return c;
}

}  // namespace hpcnn::test
