// The Backend interface's one default with a body: host staging memory,
// plain zero-initialised memory for the backends that need nothing better
// (the CPU backends; cuda and poisoned override it).
#include "backend.hpp"

#include <algorithm>

namespace hpcnn::kernels {

float* Backend::allocate_host(int64_t count) { return new float[static_cast<size_t>(std::max<int64_t>(count, 1))](); }
void Backend::release_host(float* p) { delete[] p; }

}  // namespace hpcnn::kernels
