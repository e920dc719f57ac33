// hpcnn-roofline: how close one training step of a dense model comes to what
// this CPU can do (issue 25, item 5).
//
// (a) The oneDNN matmul ceiling at each of the step's GEMM shapes (forward,
//     backward-data, backward-weights of every dense layer): the best of
//     oneDNN's matmul over operand layouts (row-major as hpcnn keeps them, the
//     weights prepacked in oneDNN's own layout, the left operand transposed),
//     against hpcnn's own dense op at that shape.
// (b) Memory bandwidth: a STREAM triad over large arrays and over arrays the
//     size of the optimizer's, against the optimizer's bytes per step.
// (c) One whole step (train_step + optimizer) unprofiled, and what is left
//     once the GEMMs and the optimizer are taken out (bias, activations,
//     loss; there is no reducer at one rank).
//
// Usage: hpcnn-roofline [--model mlp:3200-1600-832] [--batch 100] [--threads 0]
//                       [--repeats 15] [--steps 30] [--clock wall|cpu]
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend.hpp"
#include "core/error.hpp"
#include "core/median.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "model/model.hpp"
#include "model/optimizer.hpp"

namespace {

using namespace hpcnn;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string model = "mlp:3200-1600-832";
  int64_t batch = 100;
  int threads = 0;
  int repeats = 15;
  int steps = 30;
  bool cpu_clock = false;  ///< --clock cpu: the process's CPU time instead of wall time
};

/// The clock median_s reads: wall time, or (--clock cpu) the process's CPU
/// time, which leaves out the time a busy machine keeps the process
/// descheduled (meaningful with 1 thread; with more it adds their spinning).
bool g_cpu_clock = false;

double now_s() {
  if (g_cpu_clock) {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  }
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "hpcnn-roofline: " << why
            << " (usage: hpcnn-roofline [--model M] [--batch N] [--threads T] [--repeats R] [--steps S] [--clock "
               "wall|cpu])\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") usage("help");
    if (i + 1 >= argc) usage("missing value after " + key);
    const std::string value = argv[++i];
    char* end = nullptr;
    const long long v = std::strtoll(value.c_str(), &end, 10);
    const bool number = end != value.c_str() && *end == '\0';
    if (key == "--model") {
      o.model = value;
    } else if (key == "--batch" && number && v >= 1 && v <= (1 << 20)) {
      o.batch = v;
    } else if (key == "--threads" && number && v >= 0 && v <= 1024) {
      o.threads = static_cast<int>(v);
    } else if (key == "--repeats" && number && v >= 1 && v <= 100000) {
      o.repeats = static_cast<int>(v);
    } else if (key == "--steps" && number && v >= 1 && v <= 100000) {
      o.steps = static_cast<int>(v);
    } else if (key == "--clock" && (value == "cpu" || value == "wall")) {
      o.cpu_clock = value == "cpu";
    } else {
      usage("bad option " + key + " " + value);
    }
  }
  return o;
}

/// Median seconds of `repeats` calls of `f`, after two untimed calls.
double median_s(int repeats, const std::function<void()>& f) {
  f();
  f();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const double a = now_s();
    f();
    t.push_back(now_s() - a);
  }
  return upper_median_in_place(t);
}

std::string first_line_of(const char* path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (key.empty()) return line;
    if (line.rfind(key, 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// ---- (a) the oneDNN matmul ceiling ------------------------------------------

struct Gemm {
  std::string layer, pass;
  int64_t m, k, n;  ///< C (M, N) = A (M, K) x B (K, N)
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

/// Best seconds oneDNN's f32 matmul takes for C = A x B over three operand
/// layouts: both row-major; B prepacked in the layout oneDNN picks (the
/// reorder outside the timing); A transposed in memory (read through strides,
/// as a backward-weights GEMM reads the output gradient).
double matmul_ceiling_s(const Gemm& g, int repeats) {
  using dnnl::memory;
  using dt = memory::data_type;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  const memory::dims a_dims{g.m, g.k}, b_dims{g.k, g.n}, c_dims{g.m, g.n};
  const memory::desc a_row(a_dims, dt::f32, memory::dims{g.k, 1}), a_col(a_dims, dt::f32, memory::dims{1, g.m});
  const memory::desc b_row(b_dims, dt::f32, memory::dims{g.n, 1}), b_any(b_dims, dt::f32, memory::format_tag::any);
  const memory::desc c_row(c_dims, dt::f32, memory::dims{g.n, 1});
  std::vector<float> a(static_cast<size_t>(g.m * g.k), 0.5f), b(static_cast<size_t>(g.k * g.n), 0.25f),
      c(static_cast<size_t>(g.m * g.n));
  double best = 1e30;
  for (int variant = 0; variant < 3; ++variant) {
    const memory::desc& amd = variant == 2 ? a_col : a_row;
    const memory::desc& bmd = variant == 1 ? b_any : b_row;
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, c_row), eng);
    memory am(amd, eng, a.data()), bu(b_row, eng, b.data()), cm(c_row, eng, c.data());
    memory bm = bu;
    if (pd.weights_desc() != b_row) {
      bm = memory(pd.weights_desc(), eng);
      dnnl::reorder(bu, bm).execute(s, bu, bm);
      s.wait();
    }
    dnnl::matmul mm(pd);
    best = std::min(best, median_s(repeats, [&] {
                      mm.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
                      s.wait();
                    }));
  }
  return best;
}

// ---- (b) memory bandwidth ----------------------------------------------------

/// STREAM triad a = b + s c over `count` floats a array: bytes per second,
/// counting 3 x 4 bytes an element (STREAM's convention: no write-allocate).
double triad_bytes_per_s(int64_t count, int repeats) {
  std::vector<float> a(static_cast<size_t>(count)), b(static_cast<size_t>(count), 1.0f),
      c(static_cast<size_t>(count), 2.0f);
  float* pa = a.data();
  const float *pb = b.data(), *pc = c.data();
  const double t = median_s(repeats, [&] {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) pa[i] = pb[i] + 3.0f * pc[i];
  });
  if (a[static_cast<size_t>(count / 2)] != 7.0f) std::cerr << "hpcnn-roofline: triad check failed\n";
  return 12.0 * static_cast<double>(count) / t;
}

std::string fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

int run(const Options& o) {
  g_cpu_clock = o.cpu_clock;
  auto backend = kernels::make_onednn_backend(o.threads);
  const int threads = omp_get_max_threads();
  const model::ModelSpec spec = model::make_model(o.model, nullptr);
  const bool classification = spec.output().size() > 1;
  model::Model net(spec, classification ? model::LossKind::kSoftmaxCrossEntropy : model::LossKind::kMeanSquaredError,
                   *backend, 1);
  const int64_t params = net.num_params();

  std::cout << "# hpcnn-roofline: " << spec.name << ", batch " << o.batch << ", " << threads
            << " thread(s), Adam; medians of " << o.repeats << " runs, "
            << (o.cpu_clock ? "process CPU time" : "wall time") << "\n"
            << "# CPU: " << first_line_of("/proc/cpuinfo", "model name") << ", " << omp_get_num_procs()
            << " logical cores; load average at start " << first_line_of("/proc/loadavg", "").substr(0, 14) << "\n"
            << "# oneDNN " << dnnl_version()->major << "." << dnnl_version()->minor << "." << dnnl_version()->patch
            << "; ceiling: the best of oneDNN's f32 matmul over operand layouts (row-major, B prepacked, A "
               "transposed)\n#\n";

  // (a) Every dense layer's three GEMMs: hpcnn's op against the ceiling.
  double gemm_flops = 0, hpcnn_gemm_s = 0, ceiling_gemm_s = 0;
  std::cout << "## GEMMs (C = A x B: M x K times K x N)\n"
            << std::left << std::setw(20) << "layer" << std::setw(13) << "pass" << std::right << std::setw(7) << "M"
            << std::setw(7) << "K" << std::setw(7) << "N" << std::setw(9) << "MFLOP" << std::setw(11) << "hpcnn ms"
            << std::setw(10) << "GFLOP/s" << std::setw(12) << "ceiling ms" << std::setw(10) << "GFLOP/s"
            << std::setw(12) << "of ceiling\n";
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const model::ResolvedLayer& l = spec.layers[i];
    if (l.spec.kind != model::LayerKind::kDense) continue;
    const int64_t in = l.input.size(), out = l.output.size(), n = o.batch;
    auto op = backend->make_dense({n, in, out});
    model::DeviceBuffer src(*backend, n * in), w(*backend, in * out), bias(*backend, out), dst(*backend, n * out),
        diff_dst(*backend, n * out), diff_src(*backend, n * in), dw(*backend, in * out), db(*backend, out);
    backend->fill(src.get(), 0.5f, n * in);
    backend->fill(w.get(), 0.01f, in * out);
    backend->fill(diff_dst.get(), 0.1f, n * out);
    const std::string label = model::layer_label(i, l);
    // First layer: the model computes no input gradient (need_diff_src is false).
    const bool first = i == 0 || (i == 1 && spec.layers[0].spec.kind == model::LayerKind::kFlatten);
    struct Pass {
      const char* name;
      Gemm g;
      std::function<void()> run;
    };
    std::vector<Pass> passes{
        {"forward", {label, "forward", n, in, out}, [&] { op->forward(src.get(), w.get(), bias.get(), dst.get()); }},
        {"bwd-data",
         {label, "bwd-data", n, out, in},
         [&] { op->backward_data(diff_dst.get(), w.get(), diff_src.get()); }},
        {"bwd-weights", {label, "bwd-weights", out, n, in}, [&] {
           op->backward_weights(src.get(), diff_dst.get(), dw.get(), db.get());
         }}};
    for (const Pass& p : passes) {
      if (first && std::string(p.name) == "bwd-data") continue;
      const double hs = median_s(o.repeats, p.run);
      const double cs = matmul_ceiling_s(p.g, o.repeats);
      gemm_flops += p.g.flops();
      hpcnn_gemm_s += hs;
      ceiling_gemm_s += cs;
      std::cout << std::left << std::setw(20) << label << std::setw(13) << p.name << std::right << std::setw(7) << p.g.m
                << std::setw(7) << p.g.k << std::setw(7) << p.g.n << std::setw(9) << fixed(p.g.flops() / 1e6, 1)
                << std::setw(11) << fixed(hs * 1e3, 3) << std::setw(10) << fixed(p.g.flops() / hs / 1e9, 1)
                << std::setw(12) << fixed(cs * 1e3, 3) << std::setw(10) << fixed(p.g.flops() / cs / 1e9, 1)
                << std::setw(10) << fixed(100 * cs / hs, 0) << "%\n";
    }
  }
  std::cout << std::left << std::setw(40) << "all GEMMs" << std::right << std::setw(16) << fixed(gemm_flops / 1e6, 1)
            << std::setw(11) << fixed(hpcnn_gemm_s * 1e3, 3) << std::setw(10)
            << fixed(gemm_flops / hpcnn_gemm_s / 1e9, 1) << std::setw(12) << fixed(ceiling_gemm_s * 1e3, 3)
            << std::setw(10) << fixed(gemm_flops / ceiling_gemm_s / 1e9, 1) << std::setw(10)
            << fixed(100 * ceiling_gemm_s / hpcnn_gemm_s, 0) << "%\n";
  // The machine's ceiling away from the MLP's shapes, for scale.
  const Gemm big{"", "", 1024, 1024, 1024};
  const double big_s = matmul_ceiling_s(big, std::max(3, o.repeats / 3));
  std::cout << "(oneDNN matmul at 1024 x 1024 x 1024: " << fixed(big.flops() / big_s / 1e9, 1) << " GFLOP/s)\n#\n";

  // (b) Bandwidth, and the optimizer against it.
  const double triad_big = triad_bytes_per_s(int64_t{32} << 20, std::max(3, o.repeats / 3));
  const double triad_opt = triad_bytes_per_s(params, o.repeats);
  model::Optimizer adam({model::OptimizerKind::kAdam, 0.001, 0.9, 0.999, 1e-8, 0.0}, *backend, params);
  const double adam_s = median_s(o.repeats, [&] { adam.step(net.params(), net.grads()); });
  // Adam reads params, grads, m, v and writes params, m, v: 7 floats a parameter.
  const double adam_bytes = 28.0 * static_cast<double>(params);
  std::cout << "## memory\n"
            << "triad, 3 arrays of 32 Mi floats (384 MiB): " << fixed(triad_big / 1e9, 1) << " GB/s\n"
            << "triad, 3 arrays of " << params << " floats (the optimizer's size, "
            << fixed(12.0 * static_cast<double>(params) / 1e6, 1) << " MB): " << fixed(triad_opt / 1e9, 1) << " GB/s\n"
            << "Adam over " << params << " parameters: " << fixed(adam_bytes / 1e6, 1) << " MB (7 floats each) in "
            << fixed(adam_s * 1e3, 3) << " ms = " << fixed(adam_bytes / adam_s / 1e9, 1) << " GB/s, "
            << fixed(100 * adam_bytes / adam_s / triad_opt, 0) << "% of the triad at its size (its floor "
            << fixed(adam_bytes / triad_opt * 1e3, 3) << " ms)\n#\n";

  // (c) The whole step, unprofiled; then per layer (profiled) for the rest.
  data::Batch b;
  b.count = o.batch;
  Rng rng(7);
  const int64_t outputs = spec.output().size();
  b.samples.resize(static_cast<size_t>(o.batch * spec.input.size()));
  for (float& x : b.samples) x = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < o.batch; ++i) {
    b.indices.push_back(i);
    if (classification) {
      b.labels.push_back(static_cast<int32_t>(i % outputs));
    } else {
      b.targets.push_back(0.5f);
    }
  }
  const float scale = 1.0f / static_cast<float>(o.batch);
  const double step_s = median_s(o.steps, [&] {
    net.train_step(b, scale, 0);
    adam.step(net.params(), net.grads());
  });
  net.set_profiling(true);
  net.reset_layer_times();
  for (int s = 0; s < o.steps; ++s) net.train_step(b, scale, 0);
  net.set_profiling(false);
  double dense_s = 0, other_s = 0;
  const auto& t = net.layer_times();
  for (size_t i = 0; i < t.size(); ++i) {
    const double s = (t[i].forward_s + t[i].backward_s) / o.steps;
    const bool dense = i < spec.layers.size() && spec.layers[i].spec.kind == model::LayerKind::kDense;
    (dense ? dense_s : other_s) += s;
  }
  const double rest_s = std::max(0.0, step_s - hpcnn_gemm_s - adam_s);
  const double floor_s = ceiling_gemm_s + adam_bytes / triad_opt;
  std::cout << "## one step (train_step + Adam), median of " << o.steps << " unprofiled steps\n"
            << "step: " << fixed(step_s * 1e3, 3) << " ms, " << fixed(static_cast<double>(o.batch) / step_s, 0)
            << " samples/s\n"
            << "  GEMMs (hpcnn's dense ops, timed alone):  " << fixed(hpcnn_gemm_s * 1e3, 3) << " ms ("
            << fixed(100 * hpcnn_gemm_s / step_s, 0) << "%), at the ceiling " << fixed(ceiling_gemm_s * 1e3, 3)
            << " ms\n"
            << "  Adam:                                    " << fixed(adam_s * 1e3, 3) << " ms ("
            << fixed(100 * adam_s / step_s, 0) << "%), at the triad's bandwidth "
            << fixed(adam_bytes / triad_opt * 1e3, 3) << " ms\n"
            << "  the rest (bias, activations, loss):      " << fixed(rest_s * 1e3, 3) << " ms ("
            << fixed(100 * rest_s / step_s, 0) << "%)\n"
            << "  profiled per layer (wall clock, synchronised after each layer): dense layers "
            << fixed(dense_s * 1e3, 3) << " ms, other layers and loss " << fixed(other_s * 1e3, 3) << " ms\n"
            << "floor (GEMMs at the ceiling + Adam at the triad, nothing else): " << fixed(floor_s * 1e3, 3)
            << " ms; this step is " << fixed(100 * floor_s / step_s, 0) << "% of the way there\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "hpcnn-roofline: " << e.what() << "\n";
    return 1;
  }
}
