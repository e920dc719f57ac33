// oneDNN version string.
#include <dnnl.h>

#include <string>

#include "device_info.hpp"

namespace hpcnn::kernels {

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (git " +
         std::string(v->hash).substr(0, 8) + ")";
}

}  // namespace hpcnn::kernels
