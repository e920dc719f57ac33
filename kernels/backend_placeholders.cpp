// Placeholders until the CUDA backend (kernels/cuda/) and the poisoned-device
// test backend (kernels/poisoned/) land: both refuse in one line.
#include "backend.hpp"
#include "core/error.hpp"

namespace hpcnn::kernels {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  throw UsageError("--backend cuda: not available in this build yet");
}

bool cuda_backend_compiled() { return false; }

std::unique_ptr<Backend> make_poisoned_backend() {
  throw UsageError("--backend poisoned: not available in this build yet");
}

}  // namespace hpcnn::kernels
