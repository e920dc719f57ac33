// Batch 1 on several threads in one parallel region (band_schedule.hpp).
#include "quant/band_schedule.hpp"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <string>

#include "common/maths.hpp"
#include "core/error.hpp"
#include "core/median.hpp"
#include "host_backend.hpp"

namespace hpcnn::quant {

bool band_schedule_wanted(int64_t n, int threads) {
  // Read on each call (a few hundred nanoseconds), so tests can set it.
  const char* env = std::getenv("HPCNN_INFER_BANDS");
  const std::string v = env != nullptr ? env : "1";
  HPCNN_CHECK(v == "0" || v == "1", "HPCNN_INFER_BANDS='", v, "' (expected 0 or 1)");
  const bool on = v == "1";
  const int t = threads > 0 ? threads : omp_get_max_threads();
  return on && n == 1 && t > 1;
}

bool band_schedule_wanted(int64_t n, int threads, bool int8) {
  // int8 without an int8 dot product (7-bit weights, kernels::Int8Kernels):
  // the usual schedule. Bands there were not bitwise equal to the whole op in
  // every shape (band() above), and these CPUs are not the ones the band
  // schedule was measured on.
  return band_schedule_wanted(n, threads) && (!int8 || kernels::int8_kernels().dot_product);
}

namespace {
/// Rows [lo, hi) of a tensor; empty when lo >= hi.
struct Rows {
  int64_t lo = 0, hi = 0;
  bool empty() const { return lo >= hi; }
  bool overlaps(const Rows& o) const { return !empty() && !o.empty() && lo < o.hi && o.lo < hi; }
  void add(const Rows& o) {
    if (o.empty()) return;
    if (empty()) {
      *this = o;
    } else {
      lo = std::min(lo, o.lo);
      hi = std::max(hi, o.hi);
    }
  }
};

/// Thread t's share of `h` rows out of `threads`: bands of at least 2 rows
/// (fewer bands than threads where `h` is small; the others idle). A band of
/// one row of a 5x5 map is a few hundred multiply-adds per channel; and under
/// ONEDNN_MAX_CPU_ISA=AVX512_CORE with 3 threads, int8 1x1 convs over one row
/// of 5 pixels gave other logits than the whole op (not explained; the
/// tests' 35x35 MobileNetV2), which 2-row bands do not.
Rows band(int64_t h, int t, int threads) {
  const int64_t bands = std::clamp<int64_t>(h / 2, 1, threads);
  return t < bands ? Rows{h * t / bands, h * (t + 1) / bands} : Rows{};
}

/// Ops whose output is not split by rows: they read the whole input (a dense
/// layer, a global pool) and thread 0 runs them.
bool whole(OpKind kind) { return kind == OpKind::kDense || kind == OpKind::kGlobalAvgPool; }

/// The input rows a conv or max pool reads for output rows `out`: the
/// windows' span, clipped to the tensor (the rest is padding).
Rows window_rows(const Op& op, const Rows& out) {
  if (out.empty()) return {};
  return {std::max<int64_t>(0, out.lo * op.stride - op.pad_top),
          std::min(op.in.h, (out.hi - 1) * op.stride - op.pad_top + op.kernel)};
}
}  // namespace

struct BandSchedule::Step {
  int op = -1;                                             ///< -1: the input's NCHW -> NHWC copy
  bool barrier = false;                                    ///< the threads meet before it
  std::vector<Rows> out, in;                               ///< per thread: rows written, rows of src read
  std::vector<std::unique_ptr<kernels::InferOp>> kernels;  ///< conv / dense: per thread, one-threaded
};

/// HPCNN_INFER_BANDS_PROFILE=1 (a measurement switch, results/mobilenet-infer/b1-bimodal.md):
/// per thread, pass and step, the time in the step's work and in the barrier
/// before it, and the CPU the thread started the pass on; medians over passes
/// printed to stderr when the schedule is destroyed (medians: a descheduled
/// thread's time slice would swamp a mean). Each thread writes only its own
/// vectors. The first kPasses passes are kept.
struct BandSchedule::Profile {
  static constexpr int64_t kPasses = 8192;
  struct alignas(64) Thread {
    std::vector<float> work, wait;  ///< [pass * steps + step], microseconds
    std::vector<float> join;        ///< per pass: the region's closing join
    std::vector<int> cpu;           ///< per pass
  };
  std::vector<Thread> threads;
  int64_t passes = 0;
  static double now() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  static float median(const std::vector<float>& v) { return upper_median(v); }
};

BandSchedule::BandSchedule(const Graph& graph, std::vector<BandOp> ops, std::vector<BandTensor> tensors, int threads)
    : graph_(graph), ops_(std::move(ops)), tensors_(std::move(tensors)), threads_(threads) {
  HPCNN_CHECK(threads_ > 1, "band schedule: ", threads_, " thread(s)");
  HPCNN_CHECK(ops_.size() == graph_.ops.size() && static_cast<int>(tensors_.size()) == graph_.num_tensors,
              "band schedule: ops or tensors do not match the graph");
  // The kernels are made for one thread: oneDNN reads the thread count when
  // it makes a jit kernel, and inside the parallel region it runs on the
  // calling thread alone. Making them sets this thread's team to 1; restored below.
  const int team = omp_get_max_threads();
  Step input;
  for (int t = 0; t < threads_; ++t) input.out.push_back(band(graph_.input.h, t, threads_));
  steps_.push_back(std::move(input));
  for (size_t k = 0; k < graph_.ops.size(); ++k) {
    if (ops_[k].skip) continue;
    const Op& op = graph_.ops[k];
    Step s;
    s.op = static_cast<int>(k);
    // A conv whose bands oneDNN would run with another implementation than
    // the whole op (a band too small for its jit kernel, say) runs whole on
    // thread 0: another kernel may round differently, and without VNNI the
    // engine's 7-bit weights rely on the jit kernels' own halving
    // (kernels::Int8Kernels). Seen under ONEDNN_MAX_CPU_ISA=AVX512_CORE
    // with 3 threads (int8 logits off); measured, not assumed, per op.
    for (bool all_rows : {whole(op.kind), true}) {
      s.out.clear(), s.in.clear(), s.kernels.clear();
      std::string whole_impl;
      bool same = true;
      for (int t = 0; t < threads_; ++t) {
        const Rows out = all_rows ? (t == 0 ? Rows{0, op.out.h} : Rows{}) : band(op.out.h, t, threads_);
        Rows in = out;
        if (whole(op.kind)) {
          // All of src, in whatever shape its producer wrote it (a dense
          // layer's input is the flattened (C x H x W, 1, 1)).
          in = out.empty() ? Rows{} : Rows{0, std::numeric_limits<int64_t>::max()};
        } else if (op.kind == OpKind::kConv || op.kind == OpKind::kMaxPool) {
          in = window_rows(op, out);
        } else if (op.kind == OpKind::kPad) {
          in = out.empty() ? Rows{}
                           : Rows{std::max<int64_t>(0, out.lo - op.pad_top), std::min(op.in.h, out.hi - op.pad_top)};
        }
        s.out.push_back(out);
        s.in.push_back(in);
        if (op.kind == OpKind::kConv) {
          std::unique_ptr<kernels::InferOp> kernel;
          if (!out.empty()) {
            kernels::InferConvSpec c = *ops_[k].conv;
            c.rule_pixels = c.oh * c.ow;  // the kernel rules see the whole op's size, not the band's
            c.ih = in.hi - in.lo;
            c.oh = out.hi - out.lo;
            c.pad_top = in.lo - (out.lo * op.stride - op.pad_top);
            c.pad_bottom = (out.hi - 1) * op.stride - op.pad_top + op.kernel - in.hi;
            kernel = kernels::make_infer_conv(c, ops_[k].weights, 1);
            if (!all_rows) {
              if (whole_impl.empty())
                whole_impl = kernels::make_infer_conv(*ops_[k].conv, ops_[k].weights, 1)->implementation();
              same = same && kernel->implementation() == whole_impl;
            }
          }
          s.kernels.push_back(std::move(kernel));
        } else if (op.kind == OpKind::kDense) {
          s.kernels.push_back(out.empty() ? nullptr : kernels::make_infer_dense(*ops_[k].dense, ops_[k].weights, 1));
        }
      }
      if (all_rows || same) break;
      ++whole_convs_;
    }
    steps_.push_back(std::move(s));
  }
  omp_set_num_threads(team);
  kernels::flush_denormals_on_compute_threads();
  if (const char* env = std::getenv("HPCNN_INFER_BANDS_PROFILE"); env != nullptr && std::string(env) == "1") {
    profile_ = std::make_unique<Profile>();
    profile_->threads.resize(static_cast<size_t>(threads_));
    const auto cells = static_cast<size_t>(Profile::kPasses) * steps_.size();
    for (Profile::Thread& th : profile_->threads) {
      th.work.assign(cells, 0.0f), th.wait.assign(cells, 0.0f);
      th.join.assign(static_cast<size_t>(Profile::kPasses), 0.0f),
          th.cpu.assign(static_cast<size_t>(Profile::kPasses), -1);
    }
  }

  // Barriers: a thread may not read rows another thread wrote since the last
  // barrier, nor write rows another thread read or wrote since then. Rows
  // are tracked per buffer (a fused add's tensors share one, same shape).
  const auto buffers = static_cast<size_t>(graph_.num_tensors);
  const auto nt = static_cast<size_t>(threads_);
  std::vector<std::vector<Rows>> read(nt, std::vector<Rows>(buffers)), wrote(nt, std::vector<Rows>(buffers));
  for (Step& s : steps_) {
    const Op* op = s.op >= 0 ? &graph_.ops[static_cast<size_t>(s.op)] : nullptr;
    const auto dst = static_cast<size_t>(tensors_[static_cast<size_t>(op != nullptr ? op->dst : 0)].buffer);
    // Per thread: (buffer, rows read); the write is (dst, out).
    auto reads = [&](size_t t) {
      std::vector<std::pair<size_t, Rows>> r;
      if (op == nullptr) return r;
      r.emplace_back(tensors_[static_cast<size_t>(op->src)].buffer, s.in[t]);
      if (op->src2 >= 0) r.emplace_back(tensors_[static_cast<size_t>(op->src2)].buffer, s.in[t]);
      return r;
    };
    bool need = false;
    for (size_t t = 0; t < nt && !need; ++t)
      for (size_t u = 0; u < nt && !need; ++u) {
        if (u == t) continue;
        for (const auto& [b, rows] : reads(t)) need = need || rows.overlaps(wrote[u][b]);
        need = need || s.out[t].overlaps(wrote[u][dst]) || s.out[t].overlaps(read[u][dst]);
      }
    if (need) {
      s.barrier = true;
      for (size_t t = 0; t < nt; ++t) read[t].assign(buffers, Rows{}), wrote[t].assign(buffers, Rows{});
    }
    for (size_t t = 0; t < nt; ++t) {
      for (const auto& [b, rows] : reads(t)) read[t][b].add(rows);
      wrote[t][dst].add(s.out[t]);
    }
  }
}

BandSchedule::~BandSchedule() {
  if (!profile_ || profile_->passes == 0) return;
  const Profile& p = *profile_;
  const size_t passes = static_cast<size_t>(std::min(p.passes, Profile::kPasses)), steps = steps_.size();
  std::fprintf(stderr, "bands profile: %zu passes, %d threads, medians over passes, us\n", passes, threads_);
  auto column = [&](const std::vector<float>& v, size_t first, size_t count) {  // per pass: the sum of steps
    std::vector<float> r(passes, 0.0f);
    for (size_t q = 0; q < passes; ++q)
      for (size_t i = first; i < first + count; ++i) r[q] += v[q * steps + i];
    return r;
  };
  for (int t = 0; t < threads_; ++t) {
    const Profile::Thread& th = p.threads[static_cast<size_t>(t)];
    std::vector<int64_t> on(64, 0);
    int64_t moves = 0;
    for (size_t q = 0; q < passes; ++q) {
      if (th.cpu[q] >= 0 && th.cpu[q] < 64) ++on[static_cast<size_t>(th.cpu[q])];
      moves += q > 0 && th.cpu[q] != th.cpu[q - 1];
    }
    std::string cpus;
    for (size_t c = 0; c < on.size(); ++c)
      if (on[c] > 0) cpus += cat(" cpu", c, ":", on[c]);
    std::fprintf(stderr, "bands profile: thread %d work %.2f wait %.2f join %.2f; passes on%s, %lld moves\n", t,
                 Profile::median(column(th.work, 0, steps)), Profile::median(column(th.wait, 0, steps)),
                 Profile::median({th.join.begin(), th.join.begin() + static_cast<std::ptrdiff_t>(passes)}),
                 cpus.c_str(), static_cast<long long>(moves));
  }
  if (const char* env = std::getenv("HPCNN_INFER_BANDS_PROFILE_PASSES"); env != nullptr && env[0] != '\0') {
    // One line a pass: per thread its CPU, work, barrier waits and join (us).
    if (FILE* f = std::fopen(env, "w")) {
      for (size_t q = 0; q < passes; ++q) {
        std::fprintf(f, "%zu", q);
        for (const Profile::Thread& th : p.threads) {
          double work = 0, wait = 0;
          for (size_t i = 0; i < steps; ++i) work += th.work[q * steps + i], wait += th.wait[q * steps + i];
          std::fprintf(f, " %d %.2f %.2f %.2f", th.cpu[q], work, wait, th.join[q]);
        }
        std::fprintf(f, "\n");
      }
      std::fclose(f);
    }
  }
  for (size_t i = 0; i < steps; ++i) {
    const Step& s = steps_[i];
    std::string line =
        s.op < 0 ? std::string("input")
                 : cat("op ", s.op, " ", graph_.ops[static_cast<size_t>(s.op)].out.h, "x",
                       graph_.ops[static_cast<size_t>(s.op)].out.w, "x", graph_.ops[static_cast<size_t>(s.op)].out.c);
    line += s.barrier ? " barrier" : "";
    for (int t = 0; t < threads_; ++t) {
      const Profile::Thread& th = p.threads[static_cast<size_t>(t)];
      const Rows& r = s.out[static_cast<size_t>(t)];
      char buf[96];
      std::snprintf(buf, sizeof buf, " | t%d rows %lld-%lld work %.2f wait %.2f", t, static_cast<long long>(r.lo),
                    static_cast<long long>(r.hi), Profile::median(column(th.work, i, 1)),
                    Profile::median(column(th.wait, i, 1)));
      line += buf;
    }
    std::fprintf(stderr, "bands profile: %s\n", line.c_str());
  }
}

int BandSchedule::barriers() const {
  return static_cast<int>(std::count_if(steps_.begin(), steps_.end(), [](const Step& s) { return s.barrier; }));
}

namespace {
/// Bytes per value of a tensor and per row of its NHWC layout.
int64_t row_bytes(const model::Shape& s, bool int8) { return s.w * s.c * (int8 ? 1 : 4); }
}  // namespace

void BandSchedule::run_band(const Step& s, int t) {
  const Rows out = s.out[static_cast<size_t>(t)];
  if (out.empty()) return;
  if (s.op < 0) {  // the sample, NCHW -> NHWC
    const int64_t c = graph_.input.c, hw = graph_.input.h * graph_.input.w;
    auto* x = static_cast<float*>(tensors_[0].data);
    const float* sample = sample_;
    for (int64_t p = out.lo * graph_.input.w; p < out.hi * graph_.input.w; ++p)
      for (int64_t k = 0; k < c; ++k) x[p * c + k] = sample[k * hw + p];
    return;
  }
  const Op& op = graph_.ops[static_cast<size_t>(s.op)];
  const Rows in = s.in[static_cast<size_t>(t)];
  const BandTensor& src = tensors_[static_cast<size_t>(op.src)];
  const BandTensor& dst = tensors_[static_cast<size_t>(op.dst)];
  auto* const src_bytes = static_cast<char*>(src.data);
  auto* const dst_bytes = static_cast<char*>(dst.data);
  switch (op.kind) {
    case OpKind::kConv:
      s.kernels[static_cast<size_t>(t)]->run(
          src_bytes + in.lo * row_bytes(op.in, src.int8),
          dst_bytes + out.lo * row_bytes(op.out, ops_[static_cast<size_t>(s.op)].dst_int8));
      return;
    case OpKind::kDense: s.kernels[static_cast<size_t>(t)]->run(src.data, dst.data); return;
    default: break;
  }
  // Host ops, FP32 (an int8 tensor has int8 readers only).
  const auto* x = static_cast<const float*>(src.data);
  auto* y = static_cast<float*>(dst.data);
  const int64_t c = op.out.c, row = op.out.w * c, first = out.lo * row, last = out.hi * row;
  switch (op.kind) {
    case OpKind::kAffine:
      for (int64_t i = first; i < last; ++i)
        y[i] = x[i] * op.weights[static_cast<size_t>(i % c)] + op.bias[static_cast<size_t>(i % c)];
      break;
    case OpKind::kRelu:
      for (int64_t i = first; i < last; ++i) y[i] = kernels::maths::relu(x[i]);
      break;
    case OpKind::kRelu6:
      for (int64_t i = first; i < last; ++i) y[i] = kernels::maths::relu6(x[i]);
      break;
    case OpKind::kAdd: {
      const auto* b = static_cast<const float*>(tensors_[static_cast<size_t>(op.src2)].data);
      for (int64_t i = first; i < last; ++i) y[i] = x[i] + b[i];
      break;
    }
    case OpKind::kGlobalAvgPool: {  // as Engine's: summed in double
      const int64_t hw = op.in.h * op.in.w, ic = op.in.c;
      std::vector<double> sum(static_cast<size_t>(ic), 0.0);
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t k = 0; k < ic; ++k) sum[static_cast<size_t>(k)] += x[p * ic + k];
      for (int64_t k = 0; k < ic; ++k) y[k] = static_cast<float>(sum[static_cast<size_t>(k)] / double(hw));
      break;
    }
    case OpKind::kMaxPool:
      for (int64_t oh = out.lo; oh < out.hi; ++oh)
        for (int64_t ow = 0; ow < op.out.w; ++ow)
          for (int64_t k = 0; k < c; ++k) {
            float best = -std::numeric_limits<float>::infinity();
            for (int64_t yy = oh * op.stride; yy < oh * op.stride + op.kernel; ++yy)
              for (int64_t xx = ow * op.stride; xx < ow * op.stride + op.kernel; ++xx)
                best = std::max(best, x[(yy * op.in.w + xx) * c + k]);
            y[(oh * op.out.w + ow) * c + k] = best;
          }
      break;
    case OpKind::kPad:
      std::fill(y + first, y + last, 0.0f);
      for (int64_t oh = std::max(out.lo, op.pad_top); oh < std::min(out.hi, op.pad_top + op.in.h); ++oh)
        std::copy_n(x + (oh - op.pad_top) * op.in.w * c, op.in.w * c, y + (oh * op.out.w + op.pad_left) * c);
      break;
    default: break;
  }
}

void BandSchedule::run(const float* sample) {
  sample_ = sample;
  std::vector<std::exception_ptr> failed(static_cast<size_t>(threads_));
  Profile* const prof = profile_ && profile_->passes < Profile::kPasses ? profile_.get() : nullptr;
  const size_t pass = prof != nullptr ? static_cast<size_t>(prof->passes) : 0, steps = steps_.size();
  if (profile_) ++profile_->passes;
#pragma omp parallel num_threads(threads_)
  {
    // Fewer threads than asked (a nested region): the bands run one after another.
    const int got = omp_get_num_threads(), me = omp_get_thread_num();
    Profile::Thread* const pt = prof != nullptr && got == threads_ ? &prof->threads[static_cast<size_t>(me)] : nullptr;
    double t0 = 0;
    if (pt != nullptr) {
      pt->cpu[pass] = sched_getcpu();
      t0 = Profile::now();
    }
    for (size_t i = 0; i < steps; ++i) {
      const Step& s = steps_[i];
      if (s.barrier) {
#pragma omp barrier
        if (pt != nullptr) {
          const double t1 = Profile::now();
          pt->wait[pass * steps + i] = static_cast<float>(t1 - t0);
          t0 = t1;
        }
      }
      try {
        if (got == threads_) {
          run_band(s, me);
        } else if (me == 0) {
          for (int t = 0; t < threads_; ++t) run_band(s, t);
        }
      } catch (...) {
        if (!failed[static_cast<size_t>(me)]) failed[static_cast<size_t>(me)] = std::current_exception();
      }
      if (pt != nullptr) {
        const double t1 = Profile::now();
        pt->work[pass * steps + i] = static_cast<float>(t1 - t0);
        t0 = t1;
      }
    }
    // The region's closing join (the implicit barrier after it then finds both threads there).
    if (pt != nullptr) {
#pragma omp barrier
      pt->join[pass] = static_cast<float>(Profile::now() - t0);
    }
  }
  for (const auto& e : failed)
    if (e) std::rethrow_exception(e);
}

}  // namespace hpcnn::quant
