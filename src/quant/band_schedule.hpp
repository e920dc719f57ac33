// Batch 1 on several threads: the whole pass in one OpenMP parallel region.
//
// At batch 1 the engine's usual schedule (Engine::run_chunk) runs ~55 ops
// one after another, each forking and joining its OpenMP team inside oneDNN
// or a host loop, and oneDNN splits each small op over the threads by its
// own rules (or not at all: ops under HPCNN_INFER_SERIAL_MACS run on one
// thread). MobileNetV2 0.35 at 96x96 gained ~9 % from a second thread
// (results/mobilenet-infer/b1-2thr.md). Here instead every thread runs every
// op on its own band of output rows, with single-threaded oneDNN primitives
// made for that band (a conv's band reads the input rows its windows need,
// its halo, from the shared tensor), and the threads meet at a barrier only
// where an op reads rows another thread wrote since the last barrier (the
// halo of a 3x3 conv, a global pool, a dense layer), or writes rows another
// thread may still read (a residual add done in place). MobileNetV2 needs a
// barrier per depthwise conv and a few at the head: ~20 barriers instead of
// ~55 fork-joins, and every op, tiny or not, split in two.
//
// Activations are NHWC with batch 1, so a band of rows is a contiguous slice
// of each tensor. Each output pixel is computed by the same kind of kernel
// as in the full op, so int8 logits are the same up to the FP32 rescaling
// and FP32 logits within rounding (tests/unit/test_inference_bands.cpp).
// HPCNN_INFER_BANDS=0 turns it off (the usual schedule), for measurements.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "inference.hpp"
#include "quant/inference_graph.hpp"

namespace hpcnn::quant {

/// Per graph op: what the band schedule runs.
struct BandOp {
  bool skip = false;                             ///< an add the conv before it did (sum post-op)
  bool dst_int8 = false;                         ///< writes u8/s8 (a fused add's tensor may not say so)
  const kernels::InferConvSpec* conv = nullptr;  ///< conv: its spec at batch 1
  const kernels::InferDenseSpec* dense = nullptr;
  kernels::InferWeights weights;
};

/// Per graph tensor: where it lives at batch 1.
struct BandTensor {
  void* data = nullptr;  ///< NHWC, FP32 or (int8) u8/s8
  bool int8 = false;
  int buffer = 0;  ///< tensors sharing a buffer (a fused add's) share this
};

/// True when Engine::evaluate should run a batch of `n` this way on
/// `threads` threads: n == 1, threads > 1 (0: OpenMP's default), and
/// HPCNN_INFER_BANDS not 0.
bool band_schedule_wanted(int64_t n, int threads);
/// The same for a graph, int8 or not: and for int8, only where oneDNN's int8
/// kernels have a dot product (kernels::Int8Kernels).
bool band_schedule_wanted(int64_t n, int threads, bool int8);

class BandSchedule {
 public:
  BandSchedule(const Graph& graph, std::vector<BandOp> ops, std::vector<BandTensor> tensors, int threads);
  ~BandSchedule();
  BandSchedule(const BandSchedule&) = delete;
  BandSchedule& operator=(const BandSchedule&) = delete;
  /// One pass over one NCHW sample; the tensors hold the results.
  void run(const float* sample);
  /// Barriers per pass (for the measurement notes and the tests).
  int barriers() const;
  int threads() const { return threads_; }
  /// Convs run whole on one thread: their bands would take another oneDNN implementation.
  int whole_convs() const { return whole_convs_; }

 private:
  struct Step;
  struct Profile;
  void run_band(const Step& step, int t);
  const Graph& graph_;
  std::vector<BandOp> ops_;
  std::vector<BandTensor> tensors_;
  int threads_;
  std::vector<Step> steps_;        ///< the input's copy, then the ops, in order
  const float* sample_ = nullptr;  ///< run()'s sample
  int whole_convs_ = 0;
  std::unique_ptr<Profile> profile_;  ///< HPCNN_INFER_BANDS_PROFILE=1: per-thread times, printed at the end
};

}  // namespace hpcnn::quant
