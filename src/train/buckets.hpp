// Bucket accumulation: backward reports each layer's finished gradient range,
// tail first; the ranges are gathered into buckets that the reducer
// all-reduces on its own thread while backward goes on (PyTorch's reducer
// does the same with its buckets). The step then waits for the reducer
// before the optimizer.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

namespace hpcnn::train {

/// A range [first, last) of the reduced gradient buffer.
using GradRange = std::pair<int64_t, int64_t>;

class BucketAccumulator {
 public:
  /// `total`: the buffer reduced is [0, total); `bucket_floats`: start a
  /// bucket once this many finished floats wait (0: one bucket after backward).
  BucketAccumulator(int64_t total, int64_t bucket_floats) : total_(total), bucket_floats_(bucket_floats) {}

  /// A new step: nothing finished yet.
  void reset() { first_ = last_ = total_; }
  /// Backward finished [first, first + count), which ends where the pending
  /// range begins (ranges arrive tail first). Returns the bucket to start now,
  /// if the pending range reached the bucket size.
  std::optional<GradRange> add(int64_t first, int64_t count) {
    if (first_ == last_) last_ = first + count;
    first_ = first;
    if (bucket_floats_ > 0 && last_ - first_ >= bucket_floats_) {
      const GradRange bucket{first_, last_};
      last_ = first_;
      return bucket;
    }
    return std::nullopt;
  }
  /// A rank without a sample this step: its whole (zero) gradient is final.
  void all_ready() { first_ = 0; }
  /// After backward: what finished since the last bucket, [0, last), if any.
  std::optional<GradRange> finish() const {
    if (last_ > 0) return GradRange{0, last_};
    return std::nullopt;
  }

 private:
  const int64_t total_, bucket_floats_;
  int64_t first_ = 0, last_ = 0;  ///< finished but not yet started: [first, last)
};

}  // namespace hpcnn::train
