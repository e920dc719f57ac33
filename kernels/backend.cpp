// The Backend interface's default operations: the layers of MobileNet-style
// networks, refused by name on backends that do not implement them.
#include "backend.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace hpcnn::kernels {

namespace {
[[noreturn]] void refuse(const Backend& b, const char* op) {
  HPCNN_THROW("the ", b.name(), " backend has no ", op,
              " (batch norm, ReLU6, add, global average pooling and zero padding run on onednn and reference)");
}
}  // namespace

float* Backend::allocate_host(int64_t count) { return new float[static_cast<size_t>(std::max<int64_t>(count, 1))](); }
void Backend::release_host(float* p) { delete[] p; }

std::unique_ptr<BatchNormOp> Backend::make_batch_norm(const NormGeometry&) { refuse(*this, "batch normalisation"); }
void Backend::relu6_forward(const float*, float*, int64_t) { refuse(*this, "ReLU6"); }
void Backend::relu6_backward(const float*, const float*, float*, int64_t) { refuse(*this, "ReLU6"); }
void Backend::add(const float*, const float*, float*, int64_t) { refuse(*this, "element-wise add"); }
void Backend::global_avg_pool_forward(const float*, float*, int64_t, int64_t) {
  refuse(*this, "global average pooling");
}
void Backend::global_avg_pool_backward(const float*, float*, int64_t, int64_t) {
  refuse(*this, "global average pooling");
}
void Backend::zero_pad_forward(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  refuse(*this, "zero padding");
}
void Backend::zero_pad_backward(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  refuse(*this, "zero padding");
}

}  // namespace hpcnn::kernels
