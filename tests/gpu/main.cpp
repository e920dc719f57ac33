// The GPU tests' entry point: without a usable GPU they are skipped (exit 77,
// the reason printed), unless HPCNN_REQUIRE_GPU=1 makes that a failure.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <string>

#include "backend.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  std::string why;
  if (!hpcnn::kernels::cuda_backend_compiled()) {
    why = "this build has no CUDA backend";
  } else {
    try {
      hpcnn::kernels::make_cuda_backend({});
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  if (!why.empty()) {
    const char* require = std::getenv("HPCNN_REQUIRE_GPU");
    if (require != nullptr && std::string(require) == "1") {
      std::cerr << "FAIL: HPCNN_REQUIRE_GPU=1 but no GPU: " << why << "\n";
      return 1;
    }
    std::cout << "SKIP: no usable GPU: " << why << "\n";
    return 77;
  }
  // Print the cuDNN algorithm and math type chosen for each convolution (issue 33.6).
  setenv("HPCNN_CUDNN_VERBOSE", "1", 0);
  return Catch::Session().run(argc, argv);
}
