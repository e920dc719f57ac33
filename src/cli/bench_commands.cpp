// hpcnn bench layers: where one training step's time goes, layer by layer.
#include <iomanip>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/option_groups.hpp"
#include "cli/options.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/model.hpp"
#include "train/trainer.hpp"

namespace hpcnn::cli {

int run_bench_layers(const Args& args) {
  CommandSpec spec;
  spec.name = "hpcnn bench layers";
  spec.summary =
      "Time forward and backward of every layer of a model over random data (synchronising after each\n"
      "layer), after warm-up steps. Shows where a training step's time goes.";
  std::string model_name = "keras-cnn", input_text;
  ComputeOptions compute;
  long long batch = 128;
  int steps = 10, warmup = 2;
  // clang-format off
  spec.options.add_options()
      ("model,m", po::value<std::string>(&model_name)->default_value(model_name), "preset or model string")
      ("input", po::value<std::string>(&input_text)->value_name("CxHxW"), "input shape [the preset's]")
      ("batch,b", po::value<long long>(&batch)->default_value(batch), "batch size")
      ("steps", po::value<int>(&steps)->default_value(steps), "timed steps")
      ("warmup", po::value<int>(&warmup)->default_value(warmup), "untimed steps first");
  // clang-format on
  constexpr unsigned kCompute = kThreadsOption | kBackendOption | kPrecisionOption;
  add_compute_options(spec.options, compute, kCompute);
  CommonConfig common;
  if (!parse(spec, args, common)) return 0;
  check_compute_options(compute, kCompute);
  require_range<long long>("batch", batch, 1, 1 << 20);
  require_range("steps", steps, 1, 1000000);
  require_range("warmup", warmup, 0, 1000000);
  model::Shape input;
  if (!input_text.empty()) input = model::parse_shape(input_text);
  model::ModelSpec m = model::make_model(model_name, input_text.empty() ? nullptr : &input);
  kernels::BackendOptions options;
  options.threads = compute.threads;
  options.precision = kernels::parse_precision(compute.precision);
  auto backend = kernels::make_backend(kernels::parse_backend(compute.backend), options);
  const int64_t outputs = m.output().size();
  const bool classification = outputs > 1;
  model::Model net(m, classification ? model::LossKind::kSoftmaxCrossEntropy : model::LossKind::kMeanSquaredError,
                   *backend, 1);
  model::require_batch_fits(m, batch);
  data::Batch b;
  b.count = batch;
  Rng rng(7);
  b.samples.resize(static_cast<size_t>(batch * m.input.size()));
  for (float& x : b.samples) x = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < batch; ++i) {
    b.indices.push_back(i);
    if (classification) {
      b.labels.push_back(static_cast<int32_t>(i % outputs));
    } else {
      b.targets.push_back(0.5f);
    }
  }
  for (int s = 0; s < warmup; ++s) net.train_step(b, 1.0f / static_cast<float>(batch), 0);
  net.set_profiling(true);
  net.reset_layer_times();
  for (int s = 0; s < steps; ++s) net.train_step(b, 1.0f / static_cast<float>(batch), 0);
  const auto& t = net.layer_times();
  double total = 0;
  for (const auto& lt : t) total += lt.forward_s + lt.backward_s;
  std::cout << "model " << m.name << ", batch " << batch << ", backend " << backend->name() << ", " << steps
            << " steps: " << std::fixed << std::setprecision(2) << 1000.0 * total / steps << " ms/step, "
            << std::setprecision(0) << static_cast<double>(batch * steps) / total << " samples/s\n"
            << std::left << std::setw(26) << "layer" << std::right << std::setw(12) << "fwd ms" << std::setw(12)
            << "bwd ms" << std::setw(10) << "share"
            << "\n";
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string label = i < m.layers.size() ? model::layer_label(i, m.layers[i]) : "loss";
    std::cout << std::left << std::setw(26) << label << std::right << std::setprecision(3) << std::setw(12)
              << 1000.0 * t[i].forward_s / steps << std::setw(12) << 1000.0 * t[i].backward_s / steps
              << std::setprecision(1) << std::setw(9) << 100.0 * (t[i].forward_s + t[i].backward_s) / total << "%\n";
  }
  return 0;
}

}  // namespace hpcnn::cli
