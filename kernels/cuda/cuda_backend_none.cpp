// The CUDA backend in a build without the CUDA toolkit: it refuses in one line.
#include "backend.hpp"
#include "core/error.hpp"

namespace hpcnn::kernels {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  throw UsageError("--backend cuda: this build has no CUDA backend (configure with the CUDA toolkit, cuDNN and NCCL)");
}

bool cuda_backend_compiled() { return false; }

}  // namespace hpcnn::kernels
