// Placeholder until the CUDA backend (kernels/cuda/) lands: it refuses in one line.
#include "backend.hpp"
#include "core/error.hpp"

namespace hpcnn::kernels {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  throw UsageError("--backend cuda: not available in this build yet");
}

bool cuda_backend_compiled() { return false; }

}  // namespace hpcnn::kernels
