// hpcnn-eval-chunks: Model::evaluate's speed by chunk size, in one process,
// the chunk sizes alternated (A B C A B C ...), so a shared machine's load
// falls on every choice alike (issue 25, item 5). Reports per choice the
// median wall ms of a pass over the batch and, on 1 thread, the median CPU
// ms (the process's CPU clock: the time the pass was descheduled does not
// count).
//
// Usage: hpcnn-eval-chunks [--model mnist-cnn] [--batch 512] [--threads 1]
//                          [--rounds 9] [--passes 10] [--chunks rule,l2,0,16,32,64]
//   a chunk: "rule" (Model::eval_chunk_size's cache rule), "l2" (the rule's
//   L2 term alone: the rule before its weights term), 0 (the whole batch under
//   the 1 GiB budget, the rule before issue 25) or a sample count.
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "backend.hpp"
#include "core/cache_chunk.hpp"
#include "core/median.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/model.hpp"

namespace {

using namespace hpcnn;

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "hpcnn-eval-chunks: " << why
            << " (usage: hpcnn-eval-chunks [--model M] [--batch N] [--threads T] [--rounds R] [--passes P] "
               "[--chunks rule,l2,0,16,...])\n";
  std::exit(2);
}

double cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// The cache rule's L2 term alone (core/cache_chunk.hpp): the samples whose
/// largest op's input and output (FP32) fit the threads' L2, the ops counted
/// as Model's eval_samples_in_l2 counts them.
int64_t l2_term_chunk(const model::ModelSpec& spec, int64_t batch) {
  int64_t most = 1;
  for (const model::ResolvedLayer& l : spec.layers) {
    switch (l.spec.kind) {
      case model::LayerKind::kRelu:
      case model::LayerKind::kRelu6:
      case model::LayerKind::kDropout:
      case model::LayerKind::kFlatten:
      case model::LayerKind::kBatchNorm: break;
      default: most = std::max(most, l.input.size() + l.output.size());
    }
  }
  return cache_chunk(batch, samples_in_l2(most * 4, std::max(1, omp_get_max_threads())));
}

double median(std::vector<double> v) { return upper_median_in_place(v); }

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "mnist-cnn", chunks_text = "rule,0,16,32,64";
  long long batch = 512, threads = 1, rounds = 9, passes = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) usage("missing value after " + key);
    const std::string value = argv[++i];
    char* end = nullptr;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    const bool number = end != value.c_str() && *end == '\0' && v >= 0;
    if (key == "--model") {
      model_name = value;
    } else if (key == "--chunks") {
      chunks_text = value;
    } else if (key == "--batch" && number && v >= 1) {
      batch = v;
    } else if (key == "--threads" && number) {
      threads = v;
    } else if (key == "--rounds" && number && v >= 1) {
      rounds = v;
    } else if (key == "--passes" && number && v >= 1) {
      passes = v;
    } else {
      usage("bad option " + key + " " + value);
    }
  }
  try {
    auto backend = kernels::make_onednn_backend(static_cast<int>(threads));
    const model::ModelSpec spec = model::make_model(model_name, nullptr);
    const bool classification = spec.output().size() > 1;
    model::Model net(spec, classification ? model::LossKind::kSoftmaxCrossEntropy : model::LossKind::kMeanSquaredError,
                     *backend, 1);
    data::Batch b;
    b.count = batch;
    Rng rng(5);
    b.samples.resize(static_cast<size_t>(batch * spec.input.size()));
    for (float& x : b.samples) x = static_cast<float>(rng.uniform());
    for (long long i = 0; i < batch; ++i) {
      b.indices.push_back(i);
      if (classification) {
        b.labels.push_back(static_cast<int32_t>(i % spec.output().size()));
      } else {
        b.targets.push_back(0.5f);
      }
    }
    std::vector<std::string> chunks;
    std::stringstream ss(chunks_text);
    for (std::string c; std::getline(ss, c, ',');) chunks.push_back(c);
    std::vector<std::vector<double>> wall(chunks.size()), cpu(chunks.size());
    std::vector<int64_t> used(chunks.size());
    for (long long r = 0; r <= rounds; ++r) {  // round 0: warm-up (plans made)
      for (size_t k = 0; k < chunks.size(); ++k) {
        if (chunks[k] == "rule") {
          unsetenv("HPCNN_INFER_CHUNK");
        } else if (chunks[k] == "l2") {
          unsetenv("HPCNN_INFER_CHUNK");
          setenv("HPCNN_INFER_CHUNK", std::to_string(l2_term_chunk(spec, batch)).c_str(), 1);
        } else {
          setenv("HPCNN_INFER_CHUNK", chunks[k].c_str(), 1);
        }
        used[k] = net.eval_chunk_size(batch);
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_s();
        for (long long p = 0; p < passes; ++p) net.evaluate(b);
        const double c1 = cpu_s();
        const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r == 0) continue;
        wall[k].push_back(1e3 * w / static_cast<double>(passes));
        cpu[k].push_back(1e3 * (c1 - c0) / static_cast<double>(passes));
      }
    }
    unsetenv("HPCNN_INFER_CHUNK");
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    std::cout << "# hpcnn-eval-chunks: " << spec.name << ", batch " << batch << ", " << omp_get_max_threads()
              << " thread(s); medians of " << rounds << " alternated rounds of " << passes
              << " passes; load average at the end " << load[0] << "\n"
              << std::left << std::setw(8) << "chunk" << std::right << std::setw(9) << "samples" << std::setw(11)
              << "wall ms" << std::setw(11) << "cpu ms" << std::setw(16) << "wall vs first"
              << "\n";
    const double first = median(wall[0]);
    for (size_t k = 0; k < chunks.size(); ++k) {
      const double w = median(wall[k]);
      std::cout << std::left << std::setw(8) << chunks[k] << std::right << std::setw(9) << used[k] << std::fixed
                << std::setprecision(3) << std::setw(11) << w << std::setw(11) << median(cpu[k]) << std::setw(15)
                << std::setprecision(2) << first / w << "x\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "hpcnn-eval-chunks: " << e.what() << "\n";
    return 1;
  }
}
