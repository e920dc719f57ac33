// NCCL's version, asked of the library that is actually loaded.
#include "comm/nccl/nccl_info.hpp"

#include <nccl.h>

namespace hpcnn::comm {

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown (ncclGetVersion failed)";
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

}  // namespace hpcnn::comm
