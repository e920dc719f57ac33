// The poisoned-device test backend: the reference backend's arithmetic behind
// "device" pointers that the host cannot dereference, reporting itself as a
// GPU. It lets the CPU-only test suite prove that the model, optimizer,
// checkpoints, evaluation, the trainer and the staged reducer never touch
// device memory from the host, which on a real GPU would read garbage or
// crash far from the cause.
//
// Each allocation is a memfd mapped twice: once PROT_NONE (the address handed
// out, the "device pointer": any host load or store through it is SIGSEGV)
// and once read-write (the backend's private alias). Every operation maps the
// device pointers it is given to their aliases (a pointer inside an
// allocation maps by offset) and runs the reference backend's operation on
// them. upload/download count host<->device bytes like a GPU backend would.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#include "backend.hpp"
#include "core/error.hpp"

namespace hpcnn::kernels {

namespace {

/// The allocations: device address -> (alias, bytes). Shared by the backend
/// and its prepared ops.
class Arena {
 public:
  ~Arena() {
    for (auto& [device, a] : allocations_) unmap(device, a);
  }

  float* allocate(int64_t count) {
    HPCNN_CHECK(count >= 0, "poisoned: allocate(", count, ")");
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t bytes = ((static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float) + page - 1) / page) * page;
    const int fd = ::memfd_create("hpcnn-poisoned", MFD_CLOEXEC);
    HPCNN_CHECK(fd >= 0, "poisoned: memfd_create failed: ", std::strerror(errno));
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      ::close(fd);
      HPCNN_THROW("poisoned: cannot size a buffer of ", bytes, " bytes: ", std::strerror(errno));
    }
    void* device = ::mmap(nullptr, bytes, PROT_NONE, MAP_SHARED, fd, 0);
    void* alias = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    HPCNN_CHECK(device != MAP_FAILED && alias != MAP_FAILED, "poisoned: mmap failed: ", std::strerror(errno));
    std::memset(alias, 0, bytes);  // zero-initialised, as Backend::allocate promises
    const std::lock_guard lock(mutex_);
    allocations_[static_cast<char*>(device)] = {static_cast<char*>(alias), bytes,
                                                static_cast<size_t>(count) * sizeof(float)};
    return static_cast<float*>(device);
  }

  void release(float* p) {
    if (p == nullptr) return;
    const std::lock_guard lock(mutex_);
    auto it = allocations_.find(reinterpret_cast<char*>(p));
    HPCNN_CHECK(it != allocations_.end(), "poisoned: release of ", static_cast<void*>(p),
                ", which is not the start of a device allocation");
    unmap(it->first, it->second);
    allocations_.erase(it);
  }

  /// The host alias of device memory [p, p + count); throws naming the
  /// pointer when it is not inside one allocation (host memory passed where
  /// device memory belongs, or a range overrunning its buffer).
  template <typename T>
  T* alias(T* p, int64_t count) const {
    if (p == nullptr) return nullptr;
    const auto* at = reinterpret_cast<const char*>(p);
    const std::lock_guard lock(mutex_);
    auto it = allocations_.upper_bound(const_cast<char*>(at));
    HPCNN_CHECK(it != allocations_.begin(), "poisoned: ", static_cast<const void*>(p),
                " is not device memory of this backend (host memory passed as a device pointer?)");
    --it;
    const size_t offset = static_cast<size_t>(at - it->first);
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 0)) * sizeof(float);
    HPCNN_CHECK(offset < it->second.bytes && offset + bytes <= it->second.size,
                "poisoned: ", static_cast<const void*>(p), " + ", count, " floats is not inside one device allocation");
    return reinterpret_cast<T*>(it->second.alias + offset);
  }

 private:
  struct Allocation {
    char* alias;
    size_t bytes;  ///< mapped (whole pages)
    size_t size;   ///< asked for: what a range may reach
  };
  static void unmap(char* device, const Allocation& a) {
    ::munmap(device, a.bytes);
    ::munmap(a.alias, a.bytes);
  }
  mutable std::mutex mutex_;  // the staged reducer's thread calls download/upload
  std::map<char*, Allocation> allocations_;
};

class PoisonedConv final : public ConvOp {
 public:
  PoisonedConv(const Arena& arena, std::unique_ptr<ConvOp> inner, const ConvGeometry& g)
      : arena_(arena), inner_(std::move(inner)), g_(g) {}
  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    inner_->forward(arena_.alias(src, src_n()), arena_.alias(weights, w_n()), arena_.alias(bias, g_.oc),
                    arena_.alias(dst, dst_n()));
  }
  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    inner_->backward_data(arena_.alias(diff_dst, dst_n()), arena_.alias(weights, w_n()),
                          arena_.alias(diff_src, src_n()));
  }
  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    inner_->backward_weights(arena_.alias(src, src_n()), arena_.alias(diff_dst, dst_n()),
                             arena_.alias(diff_weights, w_n()), arena_.alias(diff_bias, g_.oc));
  }

 private:
  int64_t src_n() const { return g_.n * g_.ic * g_.ih * g_.iw; }
  int64_t dst_n() const { return g_.n * g_.oc * g_.oh * g_.ow; }
  int64_t w_n() const { return g_.oc * (g_.ic / g_.groups) * g_.kh * g_.kw; }
  const Arena& arena_;
  std::unique_ptr<ConvOp> inner_;
  ConvGeometry g_;
};

class PoisonedPool final : public PoolOp {
 public:
  PoisonedPool(const Arena& arena, std::unique_ptr<PoolOp> inner, const PoolGeometry& g)
      : arena_(arena), inner_(std::move(inner)), src_n_(g.n * g.c * g.ih * g.iw), dst_n_(g.n * g.c * g.oh * g.ow) {}
  void forward(const float* src, float* dst) override {
    inner_->forward(arena_.alias(src, src_n_), arena_.alias(dst, dst_n_));
  }
  void backward(const float* diff_dst, float* diff_src) override {
    inner_->backward(arena_.alias(diff_dst, dst_n_), arena_.alias(diff_src, src_n_));
  }

 private:
  const Arena& arena_;
  std::unique_ptr<PoolOp> inner_;
  int64_t src_n_, dst_n_;
};

class PoisonedDense final : public DenseOp {
 public:
  PoisonedDense(const Arena& arena, std::unique_ptr<DenseOp> inner, const DenseGeometry& g)
      : arena_(arena), inner_(std::move(inner)), g_(g) {}
  void forward(const float* src, const float* weights, const float* bias, float* dst) override {
    inner_->forward(arena_.alias(src, g_.n * g_.in), arena_.alias(weights, g_.out * g_.in), arena_.alias(bias, g_.out),
                    arena_.alias(dst, g_.n * g_.out));
  }
  void backward_data(const float* diff_dst, const float* weights, float* diff_src) override {
    inner_->backward_data(arena_.alias(diff_dst, g_.n * g_.out), arena_.alias(weights, g_.out * g_.in),
                          arena_.alias(diff_src, g_.n * g_.in));
  }
  void backward_weights(const float* src, const float* diff_dst, float* diff_weights, float* diff_bias) override {
    inner_->backward_weights(arena_.alias(src, g_.n * g_.in), arena_.alias(diff_dst, g_.n * g_.out),
                             arena_.alias(diff_weights, g_.out * g_.in), arena_.alias(diff_bias, g_.out));
  }

 private:
  const Arena& arena_;
  std::unique_ptr<DenseOp> inner_;
  DenseGeometry g_;
};

class PoisonedBatchNorm final : public BatchNormOp {
 public:
  PoisonedBatchNorm(const Arena& arena, std::unique_ptr<BatchNormOp> inner, const NormGeometry& g)
      : arena_(arena), inner_(std::move(inner)), g_(g) {}
  void forward_training(const float* src, const float* gamma, const float* beta, float* running_mean,
                        float* running_var, float* dst) override {
    inner_->forward_training(arena_.alias(src, n()), arena_.alias(gamma, g_.c), arena_.alias(beta, g_.c),
                             arena_.alias(running_mean, g_.c), arena_.alias(running_var, g_.c), arena_.alias(dst, n()));
  }
  void forward_inference(const float* src, const float* gamma, const float* beta, const float* running_mean,
                         const float* running_var, float* dst) override {
    inner_->forward_inference(arena_.alias(src, n()), arena_.alias(gamma, g_.c), arena_.alias(beta, g_.c),
                              arena_.alias(running_mean, g_.c), arena_.alias(running_var, g_.c),
                              arena_.alias(dst, n()));
  }
  void backward(const float* src, const float* diff_dst, const float* gamma, float* diff_src, float* diff_gamma,
                float* diff_beta) override {
    inner_->backward(arena_.alias(src, n()), arena_.alias(diff_dst, n()), arena_.alias(gamma, g_.c),
                     arena_.alias(diff_src, n()), arena_.alias(diff_gamma, g_.c), arena_.alias(diff_beta, g_.c));
  }

 private:
  int64_t n() const { return g_.n * g_.c * g_.h * g_.w; }
  const Arena& arena_;
  std::unique_ptr<BatchNormOp> inner_;
  NormGeometry g_;
};

class PoisonedBackend final : public Backend {
 public:
  std::string name() const override { return "poisoned"; }
  DeviceKind device() const override { return DeviceKind::kGpu; }

  float* allocate(int64_t count) override { return arena_.allocate(count); }
  void release(float* p) override { arena_.release(p); }
  void upload(float* dst, const float* host_src, int64_t count) override {
    if (count <= 0) return;
    std::memcpy(arena_.alias(dst, count), host_src, static_cast<size_t>(count) * sizeof(float));
    count_transfer(counters_.host_to_device_bytes, counters_.uploads, count);
  }
  void download(float* host_dst, const float* src, int64_t count) override {
    if (count <= 0) return;
    std::memcpy(host_dst, arena_.alias(src, count), static_cast<size_t>(count) * sizeof(float));
    count_transfer(counters_.device_to_host_bytes, counters_.downloads, count);
  }
  // Host staging memory is plain memory here; the count of live buffers
  // lets tests check that the staged reducer takes its buffer from the
  // backend (page-locked on the GPU) and gives it back.
  float* allocate_host(int64_t count) override {
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    ++counters_.host_buffers;
    return Backend::allocate_host(count);
  }
  void release_host(float* p) override {
    const std::lock_guard<std::mutex> lock(counter_mutex_);
    --counters_.host_buffers;
    Backend::release_host(p);
  }
  void copy(float* dst, const float* src, int64_t count) override {
    if (count > 0) std::memmove(arena_.alias(dst, count), arena_.alias(src, count), static_cast<size_t>(count) * 4);
  }
  void fill(float* dst, float value, int64_t count) override { ref_->fill(arena_.alias(dst, count), value, count); }
  TransferCounters transfers() const override {
    const std::lock_guard lock(counter_mutex_);
    return counters_;
  }

  std::unique_ptr<ConvOp> make_conv(const ConvGeometry& g) override {
    return std::make_unique<PoisonedConv>(arena_, ref_->make_conv(g), g);
  }
  std::unique_ptr<PoolOp> make_pool(const PoolGeometry& g) override {
    return std::make_unique<PoisonedPool>(arena_, ref_->make_pool(g), g);
  }
  std::unique_ptr<DenseOp> make_dense(const DenseGeometry& g) override {
    return std::make_unique<PoisonedDense>(arena_, ref_->make_dense(g), g);
  }

  void relu_forward(const float* src, float* dst, int64_t count) override {
    ref_->relu_forward(arena_.alias(src, count), arena_.alias(dst, count), count);
  }
  void relu_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    ref_->relu_backward(arena_.alias(dst, count), arena_.alias(diff_dst, count), arena_.alias(diff_src, count), count);
  }
  void multiply(const float* a, const float* b, float* dst, int64_t count) override {
    ref_->multiply(arena_.alias(a, count), arena_.alias(b, count), arena_.alias(dst, count), count);
  }
  std::unique_ptr<BatchNormOp> make_batch_norm(const NormGeometry& g) override {
    return std::make_unique<PoisonedBatchNorm>(arena_, ref_->make_batch_norm(g), g);
  }
  void relu6_forward(const float* src, float* dst, int64_t count) override {
    ref_->relu6_forward(arena_.alias(src, count), arena_.alias(dst, count), count);
  }
  void relu6_backward(const float* dst, const float* diff_dst, float* diff_src, int64_t count) override {
    ref_->relu6_backward(arena_.alias(dst, count), arena_.alias(diff_dst, count), arena_.alias(diff_src, count), count);
  }
  void add(const float* a, const float* b, float* dst, int64_t count) override {
    ref_->add(arena_.alias(a, count), arena_.alias(b, count), arena_.alias(dst, count), count);
  }
  void global_avg_pool_forward(const float* src, float* dst, int64_t planes, int64_t plane_size) override {
    ref_->global_avg_pool_forward(arena_.alias(src, planes * plane_size), arena_.alias(dst, planes), planes,
                                  plane_size);
  }
  void global_avg_pool_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t plane_size) override {
    ref_->global_avg_pool_backward(arena_.alias(diff_dst, planes), arena_.alias(diff_src, planes * plane_size), planes,
                                   plane_size);
  }
  void zero_pad_forward(const float* src, float* dst, int64_t planes, int64_t h, int64_t w, int64_t top, int64_t bottom,
                        int64_t left, int64_t right) override {
    const int64_t padded = planes * (top + h + bottom) * (left + w + right);
    ref_->zero_pad_forward(arena_.alias(src, planes * h * w), arena_.alias(dst, padded), planes, h, w, top, bottom,
                           left, right);
  }
  void zero_pad_backward(const float* diff_dst, float* diff_src, int64_t planes, int64_t h, int64_t w, int64_t top,
                         int64_t bottom, int64_t left, int64_t right) override {
    const int64_t padded = planes * (top + h + bottom) * (left + w + right);
    ref_->zero_pad_backward(arena_.alias(diff_dst, padded), arena_.alias(diff_src, planes * h * w), planes, h, w, top,
                            bottom, left, right);
  }
  // Sample indices and labels are host memory by contract; a GPU backend
  // uploads them, so they count as transfers here too.
  void dropout_forward(const float* src, float* dst, int64_t n, int64_t per_sample, const int64_t* host_sample_indices,
                       const DropoutParams& d) override {
    count_transfer(counters_.host_to_device_bytes, counters_.uploads, n * 2);
    ref_->dropout_forward(arena_.alias(src, n * per_sample), arena_.alias(dst, n * per_sample), n, per_sample,
                          host_sample_indices, d);
  }
  void dropout_backward(const float* diff_dst, float* diff_src, int64_t n, int64_t per_sample,
                        const int64_t* host_sample_indices, const DropoutParams& d) override {
    count_transfer(counters_.host_to_device_bytes, counters_.uploads, n * 2);
    ref_->dropout_backward(arena_.alias(diff_dst, n * per_sample), arena_.alias(diff_src, n * per_sample), n,
                           per_sample, host_sample_indices, d);
  }
  void softmax_cross_entropy(const float* logits, const int32_t* host_labels, int64_t n, int64_t k, float scale,
                             float* diff_logits) override {
    count_transfer(counters_.host_to_device_bytes, counters_.uploads, n);
    ref_->softmax_cross_entropy(arena_.alias(logits, n * k), host_labels, n, k, scale,
                                arena_.alias(diff_logits, n * k));
  }
  void mean_squared_error(const float* pred, const float* target, int64_t n, int64_t t, float scale,
                          float* diff) override {
    ref_->mean_squared_error(arena_.alias(pred, n * t), arena_.alias(target, n * t), n, t, scale,
                             arena_.alias(diff, n * t));
  }
  LossResult read_loss() override {
    count_transfer(counters_.device_to_host_bytes, counters_.downloads, 4);  // {double loss, int64 correct}
    return ref_->read_loss();
  }
  void adam_update(float* params, const float* grads, float* m, float* v, int64_t count, const AdamStep& s) override {
    ref_->adam_update(arena_.alias(params, count), arena_.alias(grads, count), arena_.alias(m, count),
                      arena_.alias(v, count), count, s);
  }
  void sgd_update(float* params, const float* grads, float* velocity, int64_t count, float lr,
                  float momentum) override {
    ref_->sgd_update(arena_.alias(params, count), arena_.alias(grads, count), arena_.alias(velocity, count), count, lr,
                     momentum);
  }

 private:
  /// Adds `floats` * 4 bytes and one call (thread-safe: the staged reducer
  /// moves blocks from its own thread).
  void count_transfer(int64_t& bytes, int64_t& calls, int64_t floats) {
    const std::lock_guard lock(counter_mutex_);
    bytes += floats * static_cast<int64_t>(sizeof(float));
    ++calls;
  }

  Arena arena_;
  std::unique_ptr<Backend> ref_ = make_reference_backend();
  mutable std::mutex counter_mutex_;
  TransferCounters counters_;
};

}  // namespace

std::unique_ptr<Backend> make_poisoned_backend() { return std::make_unique<PoisonedBackend>(); }

}  // namespace hpcnn::kernels
