// The background reader (see prefetch.hpp).
#include "data/prefetch.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "data/h5.hpp"

namespace hpcnn::data {

Prefetcher::Prefetcher(SplitReader& reader, const EpochPlan& plan, int64_t first_step, int depth,
                       const Augmenter* augment)
    : reader_(reader),
      plan_(plan),
      augment_(augment),
      first_step_(first_step),
      depth_(static_cast<size_t>(std::max(depth, 1))) {
  next_take_ = first_step;
  thread_ = std::thread([this] { loop(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Prefetcher::loop() {
  try {
    for (int64_t s = first_step_; s < plan_.steps(); ++s) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] { return stop_ || ready_.size() < depth_; });
        if (stop_) return;
      }
      Item item;
      {
        std::lock_guard<std::recursive_mutex> h5lock(h5::library_mutex());
        const int64_t before = reader_.bytes_read();
        reader_.read(plan_.step_indices(s), item.batch);
        item.bytes = reader_.bytes_read() - before;
      }
      if (augment_ != nullptr) augment_->apply(item.batch, plan_.epoch());
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(item));
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
}

Prefetcher::Taken Prefetcher::take(Batch& out) {
  std::unique_lock<std::mutex> lock(mutex_);
  HPCNN_CHECK(next_take_ < plan_.steps(), "prefetcher: no step left to take");
  changed_.wait(lock, [this] { return !ready_.empty() || error_ || done_; });
  if (ready_.empty()) {
    if (error_) std::rethrow_exception(error_);
    HPCNN_THROW("prefetcher: the reader ended before step ", next_take_);
  }
  Taken t;
  t.queue_depth = static_cast<int>(ready_.size());
  t.bytes_read = ready_.front().bytes;
  std::swap(out, ready_.front().batch);  // out's old buffers go back with the item and are freed
  ready_.pop_front();
  ++next_take_;
  lock.unlock();
  changed_.notify_all();
  return t;
}

}  // namespace hpcnn::data
