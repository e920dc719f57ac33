// Which cuDNN convolution algorithm the CUDA backend takes for one pass,
// kept free of cuDNN so the CPU-only unit tests check the rule
// (tests/unit/test_cuda_logic.cpp); cuda_ops.cu fills the options from
// cudnnGet*Algorithm_v7's list, best first.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace hpcnn::kernels {

/// One entry of cuDNN's algorithm list (cudnnConvolution*AlgoPerf_t).
struct ConvAlgoOption {
  int algo = 0;
  bool succeeded = true;      ///< status == CUDNN_STATUS_SUCCESS
  bool deterministic = true;  ///< determinism == CUDNN_DETERMINISTIC
  /// mathType: CUDNN_FMA_MATH (plain FP32) is the only one allowed without
  /// --allow-tf32; CUDNN_DEFAULT_MATH / CUDNN_TENSOR_OP_MATH may use TF32;
  /// CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION may down-convert to FP16 and is
  /// never taken (issue 33.6).
  enum class Math { kFma, kTensorOp, kTensorOpAllowConversion } math = Math::kFma;
  size_t memory = 0;  ///< workspace bytes
};

struct ConvAlgoChoice {
  int index = -1;       ///< into the options; -1: none fits, `refusal` says why
  std::string refusal;  ///< one line naming the pass and what was missing
};

/// The first (fastest by cuDNN's heuristics) option that succeeded, is
/// deterministic, uses an allowed math type and whose workspace fits
/// `memory_limit`. main 9f91d3b never compared perf.memory with anything: a
/// deterministic algorithm needing more than the free memory failed later,
/// in cudaMallocAsync, naming no convolution.
inline ConvAlgoChoice choose_conv_algo(const std::vector<ConvAlgoOption>& options, bool allow_tf32, size_t memory_limit,
                                       const char* pass) {
  ConvAlgoChoice c;
  size_t least_memory = 0;
  bool any_deterministic = false;
  for (size_t i = 0; i < options.size(); ++i) {
    const ConvAlgoOption& o = options[i];
    if (!o.succeeded || !o.deterministic) continue;
    if (o.math == ConvAlgoOption::Math::kTensorOpAllowConversion) continue;
    if (o.math == ConvAlgoOption::Math::kTensorOp && !allow_tf32) continue;
    if (!any_deterministic || o.memory < least_memory) least_memory = o.memory;
    any_deterministic = true;
    if (o.memory <= memory_limit) {
      c.index = static_cast<int>(i);
      return c;
    }
  }
  c.refusal = std::string("cuDNN offers no deterministic ") + pass + " convolution algorithm for this shape" +
              (allow_tf32 ? "" : " in FP32 (without --allow-tf32)");
  if (any_deterministic) {
    c.refusal += ": the smallest workspace is " + std::to_string(least_memory) + " bytes, the limit " +
                 std::to_string(memory_limit) + " (free GPU memory)";
  }
  return c;
}

}  // namespace hpcnn::kernels
