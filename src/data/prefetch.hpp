// A background reader: the batches of one epoch read ahead of training.
//
// A thread reads the plan's batches in step order into a queue of at most
// `depth` batches, so the training step only waits when reading is slower
// than computing (the timing files' `data` phase is then waiting time only).
// Memory is bounded by the queue plus what the reader caches. A read error
// (a damaged shard mid-epoch) stops the thread and is rethrown by the next
// take(), naming the shard; destruction stops and joins the thread, so an
// exception elsewhere never leaves it running.
//
// libhdf5 here is not thread-safe: every HDF5 call made while a Prefetcher
// lives must hold h5::library_mutex() (the thread holds it while reading).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/sampling.hpp"

namespace hpcnn::data {

class Prefetcher {
 public:
  /// Reads steps [first_step, plan.steps()) of `plan` through `reader`, and
  /// augments each batch with `augment` (for the plan's epoch) when given,
  /// on the same thread. All three must outlive the Prefetcher, and nobody
  /// else may use `reader` meanwhile.
  Prefetcher(SplitReader& reader, const EpochPlan& plan, int64_t first_step, int depth,
             const Augmenter* augment = nullptr);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  struct Taken {
    int64_t bytes_read = 0;  ///< bytes this batch took from storage (0 when cached in memory)
    int queue_depth = 0;     ///< batches that were ready when this one was taken (it included)
  };
  /// The next step's batch, waiting for it if it is not read yet.
  Taken take(Batch& out);

 private:
  struct Item {
    Batch batch;
    int64_t bytes = 0;
  };
  void loop();

  SplitReader& reader_;
  const EpochPlan& plan_;
  const Augmenter* augment_;
  const int64_t first_step_;
  const size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> ready_;
  std::exception_ptr error_;
  int64_t next_take_ = 0;
  bool stop_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace hpcnn::data
