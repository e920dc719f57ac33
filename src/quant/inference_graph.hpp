// Inference graphs: a trained model folded for inference, in FP32 or int8.
//
// fold() turns a model (its layers and flat parameters) into a list of ops on
// numbered tensors: batch norm folded into the convolution before it (weights
// and bias rescaled per output channel), Keras's zero padding folded into the
// convolution after it (asymmetric padding), ReLU and ReLU6 fused into the
// convolution or dense layer before them, dropout and flatten gone. A layer
// is only folded into its neighbour when no add reads the tensor between
// them. quantize() then gives every convolution and dense layer int8 weights
// with one symmetric scale per output channel and one scale for its input,
// from the ranges a calibration pass observed (u8 for inputs that were never
// negative, s8 otherwise). Activations are NHWC between ops: int8 from an
// int8 op to int8 readers that share its scale, FP32 otherwise, where the
// int8 op quantises its input on the way in (kernels/inference.hpp). The
// Engine does a residual add in the conv before it (oneDNN's sum post-op,
// in place in the skip tensor's buffer; in int8 too) where the graph allows.
//
// Files: save_graph() writes HDF5 with format "hpcnn-inference" (docs/formats.md),
// readable by h5dump/h5py; `hpcnn infer` runs either a training checkpoint or
// such a file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "backend.hpp"
#include "core/cache_chunk.hpp"
#include "inference.hpp"
#include "model/model.hpp"
#include "model/model_spec.hpp"

namespace hpcnn::data {
struct Batch;
}

namespace hpcnn::quant {

enum class OpKind { kConv, kDense, kAffine, kRelu, kRelu6, kAdd, kGlobalAvgPool, kMaxPool, kPad };
const char* op_kind_name(OpKind kind);
/// Conv and dense: the ops with weight matrices (int8 after quantize()).
inline bool has_weights(OpKind kind) { return kind == OpKind::kConv || kind == OpKind::kDense; }

struct Op {
  OpKind kind = OpKind::kRelu;
  int src = 0;                                                       ///< tensor read (0: the model's input)
  int src2 = -1;                                                     ///< add: the second tensor
  int dst = 0;                                                       ///< tensor written
  model::Shape in, out;                                              ///< per sample (C, H, W); tensors are stored NHWC
  int64_t kernel = 1, stride = 1, groups = 1;                        ///< conv / max-pool
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;  ///< conv / pad
  kernels::Activation act = kernels::Activation::kNone;              ///< conv / dense
  /// conv (OC, IC / groups, K, K) and dense (OUT, IN, IN in the NHWC order of
  /// its input) in FP32; affine: the per-channel scale.
  std::vector<float> weights;
  std::vector<float> bias;  ///< conv / dense bias; affine: the per-channel shift
  // int8 (after quantize()): weights = scale[oc] * qweights.
  std::vector<int8_t> qweights;
  std::vector<float> wscales;
  kernels::InputQuant quant;
  std::string layers;  ///< the model layers it came from, e.g. "1 conv:16x3:s2:same:nobias + 2 bn + 3 relu6"
};

struct Graph {
  std::string model_name, model_text;
  model::Shape input;
  model::LossKind loss = model::LossKind::kSoftmaxCrossEntropy;
  int num_tensors = 1;
  int output = 0;  ///< the tensor holding the logits (N, K)
  bool int8 = false;
  std::vector<Op> ops;
  // Carried over from the checkpoint, for infer/predict.
  std::string dataset_name, sample_dtype;
  std::vector<std::string> class_names;
  std::string source;       ///< the checkpoint it was folded from
  std::string calibration;  ///< int8: what calibrated it ("DATASET/SPLIT, N samples")
  /// Bytes of the weights as stored: FP32 4 per value; int8 1 per weight plus
  /// 4 per scale and bias.
  int64_t weight_bytes() const;
};

/// The model folded for inference (see above); `params` is its flat buffer.
Graph fold(const model::ModelSpec& spec, model::LossKind loss, std::span<const float> params);
/// The same ops without weights: what load_graph compares a file's ops with.
Graph fold_structure(const model::ModelSpec& spec, model::LossKind loss);

/// Per conv and dense op (by index into Graph::ops): the smallest value and
/// the largest magnitude its input took over the calibration batches.
struct Calibration {
  std::vector<float> min, max_abs;
  int64_t samples = 0;
};

/// Gives every conv and dense op int8 weights and input quantisation from
/// `calibration` (of this FP32 graph); sets Graph::int8.
void quantize(Graph& graph, const Calibration& calibration);

/// Runs a graph on oneDNN with `threads` threads; ops are prepared once per batch size.
class Engine {
 public:
  Engine(const Graph& graph, int threads);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  /// Forward over `batch` (NCHW samples as the dataset reader gives them):
  /// the summed loss and correct count; the logits (N, K) into `outputs`.
  /// The batch runs in chunks of chunk_size(N) samples (see there).
  kernels::LossResult evaluate(const data::Batch& batch, std::vector<float>* outputs = nullptr);
  /// Samples per chunk for a batch of `n`: as many as keep the largest op's
  /// input and output in the compute threads' L2 caches (at least one). A
  /// whole batch of 64 at once spills to memory: MobileNetV2 0.35 at 96x96
  /// (AMD EPYC, 1 thread) cost 1.1 ms a sample at batch 64 against 0.34 ms at
  /// batch 2, where its 48x48x48 activations stay in the 1 MiB L2.
  /// HPCNN_INFER_CHUNK=N overrides it (0: the whole batch), for measurements.
  int64_t chunk_size(int64_t n) const;
  /// How evaluate() runs a batch of `n` on the engine's threads
  /// (core/cache_chunk.hpp's chunk_schedule): one chunk at a time with each op
  /// split over the threads, or one chunk per thread, each on one-thread
  /// copies of the ops. One chunk at a time while observe() is set.
  ChunkSchedule schedule(int64_t n) const;
  /// While set, evaluate() records each conv and dense op's input range into it.
  void observe(Calibration* calibration) { observe_ = calibration; }
  /// Each conv / dense op's oneDNN implementation at the last batch size run ("op: impl").
  std::vector<std::string> implementations() const;
  const Graph& graph() const { return graph_; }

 private:
  struct Plan;
  Plan& plan_for(int64_t n);
  /// Runs every op on `n` NCHW samples; the output tensor (n, K).
  const std::vector<float>& run_chunk(const float* samples, int64_t n);
  /// Batch 1 on several threads: one parallel region, each thread a band of
  /// every op's rows (band_schedule.hpp); the logits (1, K).
  std::vector<float> run_bands(const float* sample);
  /// `plan.slots` chunks at once, one per thread, on slots_; the logits (n, K) into `logits`.
  void run_slots(const float* samples, int64_t n, const ChunkSchedule& plan, std::vector<float>& logits);
  kernels::LossResult loss_of(const data::Batch& batch, std::vector<float>& logits, std::vector<float>* outputs) const;
  const Graph& graph_;
  int threads_;
  double samples_in_l2_;  ///< chunk_size's cache rule, worked out once from the graph
  double samples_one_;    ///< the same rule for one thread (a chunk per thread: schedule())
  /// Residual adds done by the conv before them (a sum post-op) where the
  /// graph allows; HPCNN_INFER_FUSE=0 turns that off, for measurements and
  /// as the tests' reference.
  bool fuse_adds_;
  Calibration* observe_ = nullptr;
  std::vector<std::unique_ptr<Plan>> plans_;
  Plan* last_ = nullptr;
  /// One-thread engines on the same graph, one per thread of the chunk-per-thread schedule.
  std::vector<std::unique_ptr<Engine>> slots_;
};

// The file (inference_file.cpp, no oneDNN: the fuzz build links it alone).
/// format "hpcnn-inference": see docs/formats.md. Written to PATH.tmp.PID and renamed.
void save_graph(const std::filesystem::path& path, const Graph& graph);
/// Reads and validates a file (docs/formats.md, "What each input file is
/// checked for on load"): whatever it returns, Engine can run without reading
/// or writing outside its tensors. Refusals name the file, the op (index and
/// kind) and the field.
Graph load_graph(const std::filesystem::path& path);
/// True when `path` is an HDF5 file with format "hpcnn-inference".
bool is_inference_file(const std::filesystem::path& path);

}  // namespace hpcnn::quant
