// Builds without NCCL (no CUDA toolkit found).
#include "comm/nccl/nccl_info.hpp"

namespace hpcnn::comm {

std::string nccl_version() { return "not built"; }

}  // namespace hpcnn::comm
