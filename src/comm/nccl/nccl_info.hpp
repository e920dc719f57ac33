// NCCL belongs with the communication code: what this build has of it.
// Compiled from nccl_info.cpp when NCCL was found (it links the library),
// else from nccl_info_none.cpp, so callers need no #if.
#pragma once

#include <string>

namespace hpcnn::comm {

/// The loaded NCCL library's version ("2.28.9"), or "not built".
std::string nccl_version();

}  // namespace hpcnn::comm
