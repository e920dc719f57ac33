// The host and staged gradient reducers: block bookkeeping on the caller's
// thread, reductions on one communication thread that owns MPI while it runs.
#include "comm/gradient_reducer.hpp"

#include <mpi.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "comm/mpi/common.hpp"
#include "core/check.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

int reducer_thread_level() { return MPI_THREAD_SERIALIZED; }

AllreduceAlgo resolve_allreduce(const Communicator& comm, AllreduceAlgo algo, int64_t count) {
  return algo == AllreduceAlgo::kAuto ? choose_allreduce(comm, std::min(count, kReduceBlock)) : algo;
}

bool mpi_thread_level_at_least(int level) {
  int provided = MPI_THREAD_SINGLE;
  MPI_CHECK(MPI_Query_thread(&provided));
  return provided >= level;
}

BlockSchedule::BlockSchedule(int64_t count)
    : count_(count),
      head_(count % kReduceBlock),
      num_blocks_(count / kReduceBlock + (count % kReduceBlock > 0 ? 1 : 0)),
      covered_(static_cast<size_t>(std::max<int64_t>(num_blocks_, 0)), 0),
      next_(num_blocks_ - 1) {
  HPCNN_CHECK(count >= 0, "gradient reducer: negative size ", count);
}

// Blocks are aligned to the end of the buffer: the short block, if any, is
// the first. Backward finishes the buffer's start last, so what can only be
// reduced after backward is as small as it can be (keras-cnn: 0.6 MB of its
// 4.8 MB instead of 1 MiB).
int64_t BlockSchedule::block_start(int64_t b) const {
  return head_ > 0 ? (b == 0 ? 0 : head_ + (b - 1) * kReduceBlock) : b * kReduceBlock;
}
int64_t BlockSchedule::block_end(int64_t b) const { return b + 1 < num_blocks_ ? block_start(b + 1) : count_; }
int64_t BlockSchedule::block_of(int64_t offset) const {
  if (head_ == 0) return offset / kReduceBlock;
  return offset < head_ ? 0 : 1 + (offset - head_) / kReduceBlock;
}

std::vector<int64_t> BlockSchedule::cover(int64_t offset, int64_t count) {
  HPCNN_CHECK(offset >= 0 && count >= 0 && offset + count <= count_, "gradient reducer: range [", offset, ", ",
              offset + count, ") outside the buffer of ", count_, " floats");
  for (int64_t b = block_of(offset); b < num_blocks_ && block_start(b) < offset + count; ++b) {
    const int64_t lo = std::max(offset, block_start(b)), hi = std::min(offset + count, block_end(b));
    int64_t& c = covered_[static_cast<size_t>(b)];
    c += std::max<int64_t>(hi - lo, 0);
    HPCNN_CHECK(c <= block_end(b) - block_start(b), "gradient reducer: gradients [", block_start(b), ", ", block_end(b),
                ") started twice");
  }
  std::vector<int64_t> issue;
  while (next_ >= 0 && covered_[static_cast<size_t>(next_)] == block_end(next_) - block_start(next_)) {
    issue.push_back(next_--);
  }
  return issue;
}

void BlockSchedule::reset() {
  std::fill(covered_.begin(), covered_.end(), 0);
  next_ = num_blocks_ - 1;
}

namespace {

using Clock = std::chrono::steady_clock;

/// The communication thread's nice value (see raise_priority()).
constexpr int kCommThreadNice = -10;

/// Block bookkeeping and the communication thread; subclasses say how one
/// block is reduced.
class ThreadedReducer : public GradientReducer {
 public:
  ThreadedReducer(Communicator& comm, AllreduceAlgo algo, int64_t count)
      : comm_(comm), algo_(resolve_allreduce(comm, algo, count)), count_(count), schedule_(count) {
    HPCNN_CHECK(
        comm.size() == 1 || mpi_thread_level_at_least(reducer_thread_level()),
        "the gradient reducer's communication thread needs MPI_THREAD_SERIALIZED, which this MPI did not grant");
    thread_ = std::thread([this] { run(); });
  }

  ~ThreadedReducer() override { stop_thread(); }

  /// Stops the communication thread (once; later calls do nothing). True
  /// when it was joined, false when it was left running: unwinding from an
  /// error in a multi-rank job, the thread may sit in a collective that the
  /// other ranks never join; main() is about to abort the job, so do not
  /// wait for it (and do not free what it may still touch).
  bool stop_thread() {
    if (!thread_.joinable()) return !detached_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    ready_.notify_all();
    if (std::uncaught_exceptions() > 0) {
      thread_.detach();
      detached_ = true;
      return false;
    }
    thread_.join();
    return true;
  }

  void start(int64_t offset, int64_t count) override {
    HPCNN_CHECK(offset >= 0 && count >= 0 && offset + count <= count_, "gradient reducer: range [", offset, ", ",
                offset + count, ") outside the buffer of ", count_, " floats");
    if (count == 0) return;
    // No overlap with a range started since the last wait().
    const auto next = started_.lower_bound(offset);
    const bool overlaps = (next != started_.end() && next->first < offset + count) ||
                          (next != started_.begin() && std::prev(next)->second > offset);
    HPCNN_CHECK(!overlaps, "gradient reducer: [", offset, ", ", offset + count, ") overlaps a range started before");
    started_.emplace(offset, offset + count);
    const std::vector<int64_t> now_ready = schedule_.cover(offset, count);  // in the fixed issue order
    if (now_ready.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int64_t b : now_ready) queue_.push_back(b);
      queued_ += static_cast<int64_t>(now_ready.size());
    }
    ready_.notify_all();
  }

  ReduceStats wait() override {
    const auto t0 = Clock::now();
    ReduceStats stats;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait(lock, [this] { return done_ == queued_ || error_; });
      if (error_) std::rethrow_exception(error_);
      stats.busy_s = busy_s_;
      stats.blocks = done_;
      busy_s_ = 0.0;
      queued_ = done_ = 0;
    }
    // The next step starts afresh, also after the error below.
    const int64_t missing = schedule_.missing(), num_blocks = schedule_.num_blocks();
    schedule_.reset();
    started_.clear();
    HPCNN_CHECK(missing == 0, "gradient reducer: wait() before the whole buffer was started (", missing, " of ",
                num_blocks, " blocks missing)");
    stats.bytes = count_ * static_cast<int64_t>(sizeof(float));
    stats.wait_s = std::chrono::duration<double>(Clock::now() - t0).count();
    return stats;
  }

  AllreduceAlgo algo() const override { return algo_; }

 protected:
  /// Reduces floats [first, first + n) of the buffer on every rank.
  virtual void reduce_block(int64_t first, int64_t n) = 0;

  Communicator& comm_;
  const AllreduceAlgo algo_;

 private:
  void run() {
    // A name to find it by in top -H, perf and /proc/PID/task (results/overlap/bf16/cpu.sh).
    pthread_setname_np(pthread_self(), "hpcnn-comm");
    raise_priority();
    while (true) {
      int64_t b = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) break;
        b = queue_.front();
        queue_.pop_front();
      }
      const auto t0 = Clock::now();
      std::exception_ptr failure;
      try {
        reduce_block(schedule_.block_start(b), schedule_.block_end(b) - schedule_.block_start(b));
      } catch (...) {
        failure = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        busy_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
        ++done_;
        if (failure && !error_) error_ = failure;
      }
      ++blocks_reduced_;
      done_cv_.notify_all();
    }
    write_counters();
  }

  /// HPCNN_COMM_COUNTERS=PREFIX: as it ends, the communication thread writes
  /// PREFIX-RANK.json with what it cost (results/overlap/bf16/wakeups.md):
  /// its own CPU and context switches (getrusage RUSAGE_THREAD: voluntary
  /// ones are its wake-ups), its read and write system calls
  /// (/proc/thread-self/io: Open MPI's TCP transport reads and writes its
  /// sockets with readv and writev; every pass of its progress that finds a
  /// socket readable is one), and its exchanges' waits
  /// (detail::WaitCounters). A run's figures per step are the difference
  /// of two runs of different lengths (results/overlap/bf16/cpu.sh).
  void write_counters() const {
    const char* prefix = std::getenv("HPCNN_COMM_COUNTERS");
    if (prefix == nullptr || *prefix == '\0') return;
    rusage use{};
    getrusage(RUSAGE_THREAD, &use);
    std::map<std::string, int64_t> io;
    std::ifstream io_file("/proc/thread-self/io");
    for (std::string key; io_file >> key;) {
      int64_t value = 0;
      if (io_file >> value) io[key.substr(0, key.size() - 1)] = value;  // "syscr:" -> syscr
    }
    const detail::WaitCounters& w = detail::wait_counters();
    auto seconds = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
    };
    std::ofstream out(std::string(prefix) + "-" + std::to_string(comm_.rank()) + ".json");
    out << "{\"blocks\": " << blocks_reduced_ << ", \"user_s\": " << seconds(use.ru_utime)
        << ", \"sys_s\": " << seconds(use.ru_stime) << ", \"voluntary_switches\": " << use.ru_nvcsw
        << ", \"involuntary_switches\": " << use.ru_nivcsw << ", \"read_syscalls\": " << io["syscr"]
        << ", \"write_syscalls\": " << io["syscw"] << ", \"read_bytes\": " << io["rchar"]
        << ", \"write_bytes\": " << io["wchar"] << ", \"exchanges\": " << w.exchanges << ", \"pieces\": " << w.pieces
        << ", \"blocking_waits\": " << w.blocking_waits << ", \"tests\": " << w.tests
        << ", \"untested_sleeps\": " << w.untested_sleeps << ", \"backoff_sleeps\": " << w.backoff_sleeps
        << ", \"slept_s\": " << 1e-9 * w.slept_ns << "}\n";
  }

  /// The communication thread wakes for every chunk while backward keeps the
  /// cores busy; at equal priority the scheduler lets it wait for a time
  /// slice each time. A higher priority (lower nice) lets it run at once.
  /// Needs CAP_SYS_NICE (root, or a raised RLIMIT_NICE); without it the
  /// thread keeps the normal priority.
  static void raise_priority() {
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    setpriority(PRIO_PROCESS, tid, kCommThreadNice);
  }

  const int64_t count_;
  BlockSchedule schedule_;              ///< blocks covered and issued (caller's thread; bounds read-only)
  std::map<int64_t, int64_t> started_;  ///< ranges started since the last wait(): first -> last
  std::mutex mutex_;
  std::condition_variable ready_, done_cv_;
  std::deque<int64_t> queue_;  ///< blocks waiting for the communication thread
  int64_t queued_ = 0, done_ = 0;
  int64_t blocks_reduced_ = 0;  ///< by the communication thread, ever (its own)
  double busy_s_ = 0.0;
  std::exception_ptr error_;
  bool stop_ = false;
  bool detached_ = false;  ///< stop_thread left the thread running (unwinding)
  std::thread thread_;     ///< last: started once everything above exists
};

class HostReducer final : public ThreadedReducer {
 public:
  HostReducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count, GradCompression compression)
      : ThreadedReducer(comm, algo, count), data_(data), compression_(compression) {}
  const char* kind() const override { return "host"; }

 private:
  void reduce_block(int64_t first, int64_t n) override {
    if (compression_ == GradCompression::kNone) return allreduce(comm_, algo_, data_ + first, n);
    // The all-reduce's two halves, with compressed messages both ways (the sums are bf16-exact).
    reduce_scatter(comm_, algo_, data_ + first, n, compression_);
    all_gather(comm_, algo_, data_ + first, n, compression_);
  }
  float* data_;
  const GradCompression compression_;
};

class StagedReducer final : public ThreadedReducer {
 public:
  StagedReducer(Communicator& comm, AllreduceAlgo algo, kernels::Backend& backend, float* device_data, int64_t count,
                GradCompression compression)
      : ThreadedReducer(comm, algo, count),
        backend_(backend),
        device_data_(device_data),
        compression_(compression),
        staging_(backend.allocate_host(std::min(count, kReduceBlock))) {}
  ~StagedReducer() override {
    if (stop_thread()) backend_.release_host(staging_);  // the thread is done with it
  }
  StagedReducer(const StagedReducer&) = delete;
  StagedReducer& operator=(const StagedReducer&) = delete;
  const char* kind() const override { return "staged"; }

 private:
  void reduce_block(int64_t first, int64_t n) override {
    backend_.download(staging_, device_data_ + first, n);
    if (compression_ == GradCompression::kNone) {
      allreduce(comm_, algo_, staging_, n);
    } else {  // as HostReducer: both halves in 16 bits
      reduce_scatter(comm_, algo_, staging_, n, compression_);
      all_gather(comm_, algo_, staging_, n, compression_);
    }
    backend_.upload(device_data_ + first, staging_, n);
  }
  kernels::Backend& backend_;
  float* device_data_;
  const GradCompression compression_;
  float* staging_;  ///< one block, from Backend::allocate_host (page-locked on the GPU backend)
};

/// Sharded, on host gradients or (with a backend) staged through one host
/// block like StagedReducer: the block is downloaded, reduce-scattered on
/// the host and only this rank's slice uploaded into the packed device shard.
class ShardedHostReducer final : public ThreadedReducer, public ShardedReducer {
 public:
  ShardedHostReducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count, GradCompression compression,
                     kernels::Backend* backend)
      : ThreadedReducer(comm, algo, count), data_(data), count_(count), compression_(compression), backend_(backend) {
    const ShardPlace place = shard_place(comm);
    const BlockSchedule blocks(count);
    for (int64_t b = 0; b < blocks.num_blocks(); ++b) {
      const int64_t first = blocks.block_start(b);
      const Range mine = owned_range(algo_, place, blocks.block_end(b) - first);
      block_starts_.push_back(first);
      packed_at_.push_back(shard_count_);
      slices_.emplace_back(first + mine.first, first + mine.second);
      shard_count_ += mine.second - mine.first;
    }
    if (backend_ == nullptr) {
      shard_grads_ = data_;  // each slice's sum stays where the reduce-scatter left it
      for (const Range& s : slices_) grad_offsets_.push_back(s.first);
    } else {
      grad_offsets_ = packed_at_;
      staging_ = backend_->allocate_host(std::min(count, kReduceBlock));
      shard_grads_ = backend_->allocate(std::max<int64_t>(shard_count_, 1));
    }
  }
  ~ShardedHostReducer() override {
    // Before the members the thread uses go; the backend's buffers only once it is done with them.
    if (stop_thread() && backend_ != nullptr) {
      backend_->release_host(staging_);
      backend_->release(shard_grads_);
    }
  }
  ShardedHostReducer(const ShardedHostReducer&) = delete;
  ShardedHostReducer& operator=(const ShardedHostReducer&) = delete;

  void start(int64_t offset, int64_t count) override { ThreadedReducer::start(offset, count); }
  ReduceStats wait() override { return ThreadedReducer::wait(); }
  AllreduceAlgo algo() const override { return ThreadedReducer::algo(); }
  const char* kind() const override { return backend_ == nullptr ? "sharded" : "sharded-staged"; }
  const std::vector<Range>& slices() const override { return slices_; }
  int64_t shard_count() const override { return shard_count_; }
  const float* shard_gradients() const override { return shard_grads_; }
  const std::vector<int64_t>& shard_gradient_offsets() const override { return grad_offsets_; }

  void all_gather(float* params) override {
    const BlockSchedule blocks(count_);
    for (int64_t b = blocks.num_blocks() - 1; b >= 0; --b) {  // the reductions' order
      const int64_t first = blocks.block_start(b), n = blocks.block_end(b) - first;
      if (backend_ == nullptr) {
        comm::all_gather(comm_, algo_, params + first, n, GradCompression::kNone);
        continue;
      }
      const auto [lo, hi] = slices_[static_cast<size_t>(b)];
      backend_->download(staging_ + (lo - first), params + lo, hi - lo);
      comm::all_gather(comm_, algo_, staging_, n, GradCompression::kNone);
      backend_->upload(params + first, staging_, n);
    }
  }

 private:
  void reduce_block(int64_t first, int64_t n) override {
    const auto b = static_cast<size_t>(std::lower_bound(block_starts_.begin(), block_starts_.end(), first) -
                                       block_starts_.begin());
    HPCNN_CHECK(b < block_starts_.size() && block_starts_[b] == first, "sharded reducer: no block starts at ", first);
    float* block = data_ + first;
    if (backend_ != nullptr) {
      backend_->download(staging_, data_ + first, n);
      block = staging_;
    }
    const Range mine = reduce_scatter(comm_, algo_, block, n, compression_);
    HPCNN_CHECK(first + mine.first == slices_[b].first && first + mine.second == slices_[b].second,
                "sharded reducer: block ", b, " reduced to a slice it does not own");
    // Host: the sum stays where the reduce-scatter left it, read there by the optimizer.
    if (backend_ != nullptr)
      backend_->upload(shard_grads_ + packed_at_[b], block + mine.first, mine.second - mine.first);
  }

  float* data_;
  const int64_t count_;
  const GradCompression compression_;
  kernels::Backend* backend_;                      ///< null: host memory
  std::vector<int64_t> block_starts_, packed_at_;  ///< per block: where it starts, where its slice is packed
  std::vector<int64_t> grad_offsets_;              ///< shard_gradient_offsets(): slices' starts (host), packed_at_
  std::vector<Range> slices_;
  int64_t shard_count_ = 0;
  float* shard_grads_ = nullptr;  ///< data_ (the sums in place, host), or the backend's packed device buffer
  float* staging_ = nullptr;      ///< one block, from Backend::allocate_host (staged only)
};

}  // namespace

AllreduceAlgo resolve_sharded_allreduce(const Communicator& comm, AllreduceAlgo algo, int64_t count) {
  if (algo != AllreduceAlgo::kAuto) return algo;
  // As `auto` for the all-reduce, restricted to the algorithms with halves:
  // shared memory inside nodes and a ring between them; in one node the ring
  // (rhd for latency-bound blocks under 64 KiB).
  if (comm.num_nodes() > 1 && comm.regular_nodes() && comm.node_size() > 1) return AllreduceAlgo::kHier;
  const int64_t bytes = std::min(count, kReduceBlock) * static_cast<int64_t>(sizeof(float));
  return bytes < (int64_t{64} << 10) ? AllreduceAlgo::kRhd : AllreduceAlgo::kRing;
}

std::unique_ptr<ShardedReducer> make_sharded_reducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count,
                                                     GradCompression compression) {
  // Only the ring compresses: compressed auto is the ring.
  const AllreduceAlgo resolved = compression != GradCompression::kNone && algo == AllreduceAlgo::kAuto
                                     ? AllreduceAlgo::kRing
                                     : resolve_sharded_allreduce(comm, algo, count);
  check_reduce_scatter(resolved, compression);  // before the communication thread starts
  return std::make_unique<ShardedHostReducer>(comm, resolved, data, count, compression, nullptr);
}

std::unique_ptr<ShardedReducer> make_sharded_staged_reducer(Communicator& comm, AllreduceAlgo algo,
                                                            kernels::Backend& backend, float* device_data,
                                                            int64_t count, GradCompression compression) {
  const AllreduceAlgo resolved = compression != GradCompression::kNone && algo == AllreduceAlgo::kAuto
                                     ? AllreduceAlgo::kRing
                                     : resolve_sharded_allreduce(comm, algo, count);
  check_reduce_scatter(resolved, compression);
  return std::make_unique<ShardedHostReducer>(comm, resolved, device_data, count, compression, &backend);
}

std::unique_ptr<GradientReducer> make_host_reducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count) {
  return std::make_unique<HostReducer>(comm, algo, data, count, GradCompression::kNone);
}

std::unique_ptr<GradientReducer> make_host_reducer(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count,
                                                   GradCompression compression) {
  if (compression == GradCompression::kNone) return make_host_reducer(comm, algo, data, count);
  if (algo == AllreduceAlgo::kAuto) algo = AllreduceAlgo::kRing;  // the one algorithm that compresses
  check_reduce_scatter(algo, compression);                        // before the communication thread starts
  return std::make_unique<HostReducer>(comm, algo, data, count, compression);
}

std::unique_ptr<GradientReducer> make_staged_reducer(Communicator& comm, AllreduceAlgo algo, kernels::Backend& backend,
                                                     float* device_data, int64_t count, GradCompression compression) {
  if (compression != GradCompression::kNone) {
    if (algo == AllreduceAlgo::kAuto) algo = AllreduceAlgo::kRing;  // the one algorithm that compresses
    check_reduce_scatter(algo, compression);                        // before the communication thread starts
  }
  return std::make_unique<StagedReducer>(comm, algo, backend, device_data, count, compression);
}

}  // namespace hpcnn::comm
