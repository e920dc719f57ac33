// Gathering and scattering a sharded optimizer's state (see shard_state.hpp).
#include "comm/shard_state.hpp"

#include <mpi.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <numeric>

#include "core/check.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

namespace {
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

int as_int(int64_t n, const char* what) {
  HPCNN_CHECK(n >= 0 && n <= kIntMax, "gather_shard: ", n, " ", what, " do not fit one MPI message");
  return static_cast<int>(n);
}
}  // namespace

namespace {
/// gather_shard's checks and bookkeeping: every rank's slice bounds on root
/// (flat (first, last) pairs, rank r's at flat_at[r], flat_counts[r] of
/// them), after checking on every rank that the slices hold `packed` and
/// tile [0, count) (throws everywhere otherwise, never hangs).
struct GatheredBounds {
  std::vector<int64_t> all_bounds;
  std::vector<int> flat_counts, flat_at;
};

GatheredBounds gather_bounds(Communicator& comm, std::span<const Range> slices, std::span<const float> packed,
                             int64_t count, int root) {
  int64_t mine = 0;
  for (const auto& [first, last] : slices) {
    HPCNN_CHECK(first >= 0 && first <= last && last <= count, "gather_shard: slice [", first, ", ", last, ") outside ",
                count, " floats");
    mine += last - first;
  }
  HPCNN_CHECK(mine == static_cast<int64_t>(packed.size()), "gather_shard: ", packed.size(), " values for slices of ",
              mine);
  // Checked on every rank before the gathers, so a mismatch throws everywhere instead of hanging.
  int64_t total = mine;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT64_T, MPI_SUM, comm.comm()));
  HPCNN_CHECK(total == count, "gather_shard: the ranks' slices hold ", total, " of ", count, " floats");
  const int p = comm.size();
  const bool at_root = comm.rank() == root;
  // 1. The slices, as (first, last) pairs; 2. the values, slice by slice.
  std::vector<int64_t> flat;
  for (const auto& [first, last] : slices) {
    flat.push_back(first);
    flat.push_back(last);
  }
  const int n_flat = as_int(static_cast<int64_t>(flat.size()), "slice bounds");
  GatheredBounds g;
  std::vector<int>& flat_counts = g.flat_counts;
  flat_counts.resize(static_cast<size_t>(p));
  MPI_CHECK(MPI_Gather(&n_flat, 1, MPI_INT, flat_counts.data(), 1, MPI_INT, root, comm.comm()));
  std::vector<int>& flat_at = g.flat_at;
  flat_at.assign(static_cast<size_t>(p), 0);
  int64_t all_flat = 0;
  if (at_root) {
    for (int r = 0; r < p; ++r) {
      flat_at[static_cast<size_t>(r)] = as_int(all_flat, "slice bounds");
      all_flat += flat_counts[static_cast<size_t>(r)];
    }
  }
  std::vector<int64_t>& all_bounds = g.all_bounds;
  all_bounds.resize(static_cast<size_t>(all_flat));
  MPI_CHECK(MPI_Gatherv(flat.data(), n_flat, MPI_INT64_T, all_bounds.data(), flat_counts.data(), flat_at.data(),
                        MPI_INT64_T, root, comm.comm()));
  // Root checks that the slices tile [0, count) before any value moves, and
  // says so to every rank: a bad tiling throws everywhere instead of hanging.
  int tiled = 1;
  int64_t gap_at = 0;
  if (at_root) {
    std::vector<Range> seen;
    for (size_t k = 0; k + 1 < all_bounds.size(); k += 2) {
      if (all_bounds[k + 1] > all_bounds[k]) seen.emplace_back(all_bounds[k], all_bounds[k + 1]);
    }
    std::sort(seen.begin(), seen.end());
    int64_t next = 0;
    for (const auto& [first, last] : seen) {
      if (first != next) {
        tiled = 0;
        gap_at = std::min(first, next);
        break;
      }
      next = last;
    }
  }
  MPI_CHECK(MPI_Bcast(&tiled, 1, MPI_INT, root, comm.comm()));
  MPI_CHECK(MPI_Bcast(&gap_at, 1, MPI_INT64_T, root, comm.comm()));
  HPCNN_CHECK(tiled == 1, "gather_shard: the ranks' slices overlap or leave a gap at ", gap_at);
  return g;
}
}  // namespace

std::vector<float> gather_shard(Communicator& comm, std::span<const Range> slices, std::span<const float> packed,
                                int64_t count, int root) {
  GatheredBounds g = gather_bounds(comm, slices, packed, count, root);
  const std::vector<int64_t>& all_bounds = g.all_bounds;
  const std::vector<int>&flat_counts = g.flat_counts, &flat_at = g.flat_at;
  const int p = comm.size();
  const bool at_root = comm.rank() == root;
  // The values go straight to their places in root's full vector, one
  // message per slice (issue 30): root holds the full vector and nothing
  // else, not a second, packed copy of it (it did: 2 full vectors at once).
  constexpr int kTag = 0x5a17;
  std::vector<MPI_Request> requests;
  if (!at_root) {
    int64_t at = 0;
    for (const auto& [first, last] : slices) {
      if (last == first) continue;
      requests.emplace_back();
      MPI_CHECK(MPI_Isend(packed.data() + at, as_int(last - first, "values"), MPI_FLOAT, root, kTag, comm.comm(),
                          &requests.back()));
      at += last - first;
    }
    MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    return {};
  }
  std::vector<float> full(static_cast<size_t>(count));
  for (int r = 0; r < p; ++r) {
    const int64_t* bounds = all_bounds.data() + flat_at[static_cast<size_t>(r)];
    int64_t from = 0;  // into `packed`, for root's own slices
    for (int k = 0; k + 1 < flat_counts[static_cast<size_t>(r)]; k += 2) {
      const int64_t first = bounds[k], last = bounds[k + 1];
      if (last == first) continue;
      if (r == root) {
        std::copy_n(packed.begin() + from, last - first, full.begin() + first);
        from += last - first;
        continue;
      }
      requests.emplace_back();
      MPI_CHECK(MPI_Irecv(full.data() + first, as_int(last - first, "values"), MPI_FLOAT, r, kTag, comm.comm(),
                          &requests.back()));
    }
  }
  MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
  return full;
}

void gather_shard_windows(Communicator& comm, std::span<const Range> slices, std::span<const float> packed,
                          int64_t count, int64_t window,
                          const std::function<void(int64_t first, std::span<const float> values)>& sink, int root) {
  HPCNN_CHECK(window > 0, "gather_shard_windows: window of ", window, " floats");
  const GatheredBounds g = gather_bounds(comm, slices, packed, count, root);
  const int p = comm.size();
  const bool at_root = comm.rank() == root;
  // Each rank's slices in ascending order with where their values sit in
  // `packed` (root sorts every rank's bounds the same way): both sides cut
  // them at the window boundaries into the same pieces, in the same order,
  // so root's receives match the owners' sends one to one (MPI keeps the
  // order of messages between two ranks on one tag).
  struct Piece {
    int64_t first, last, packed_at;
  };
  const auto sorted = [](const int64_t* bounds, int n_flat) {
    std::vector<Piece> v;
    int64_t at = 0;
    for (int k = 0; k + 1 < n_flat; k += 2) {
      v.push_back({bounds[k], bounds[k + 1], at});
      at += bounds[k + 1] - bounds[k];
    }
    std::sort(v.begin(), v.end(), [](const Piece& x, const Piece& y) { return x.first < y.first; });
    return v;
  };
  constexpr int kTag = 0x5a18;
  const int64_t windows = count == 0 ? 1 : (count + window - 1) / window;
  if (!at_root) {
    std::vector<int64_t> flat;
    for (const auto& [first, last] : slices) {
      flat.push_back(first);
      flat.push_back(last);
    }
    for (const Piece& s : sorted(flat.data(), static_cast<int>(flat.size()))) {
      for (int64_t lo = s.first; lo < s.last;) {  // cut at the window boundaries
        const int64_t hi = std::min(s.last, (lo / window + 1) * window);
        MPI_CHECK(MPI_Send(packed.data() + s.packed_at + (lo - s.first), as_int(hi - lo, "values"), MPI_FLOAT, root,
                           kTag, comm.comm()));
        lo = hi;
      }
    }
    return;
  }
  std::vector<std::vector<Piece>> pieces(static_cast<size_t>(p));
  std::vector<size_t> next(static_cast<size_t>(p), 0);  // each rank's first piece not wholly received
  for (int r = 0; r < p; ++r) {
    pieces[static_cast<size_t>(r)] =
        sorted(g.all_bounds.data() + g.flat_at[static_cast<size_t>(r)], g.flat_counts[static_cast<size_t>(r)]);
  }
  std::vector<float> buffer(static_cast<size_t>(std::min(count, window)));
  std::vector<MPI_Request> requests;
  std::exception_ptr failed;
  for (int64_t w = 0; w < windows; ++w) {
    const int64_t w0 = w * window, w1 = std::min(count, w0 + window);
    requests.clear();
    for (int r = 0; r < p; ++r) {
      const std::vector<Piece>& mine = pieces[static_cast<size_t>(r)];
      size_t& k = next[static_cast<size_t>(r)];
      for (; k < mine.size() && mine[k].first < w1; ++k) {
        const Piece& s = mine[k];
        const int64_t lo = std::max(s.first, w0), hi = std::min(s.last, w1);
        if (hi > lo) {
          if (r == root) {
            std::copy_n(packed.begin() + s.packed_at + (lo - s.first), hi - lo, buffer.begin() + (lo - w0));
          } else {
            requests.emplace_back();
            MPI_CHECK(MPI_Irecv(buffer.data() + (lo - w0), as_int(hi - lo, "values"), MPI_FLOAT, r, kTag, comm.comm(),
                                &requests.back()));
          }
        }
        if (s.last > w1) break;  // the rest of this piece is in the next window
      }
    }
    MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    if (failed) continue;
    try {
      sink(w0, std::span<const float>(buffer.data(), static_cast<size_t>(w1 - w0)));
    } catch (...) {  // the owners are still sending: receive the rest, then report
      failed = std::current_exception();
    }
  }
  if (failed) std::rethrow_exception(failed);
}

std::vector<float> scatter_shard(std::span<const float> full, std::span<const Range> slices) {
  std::vector<float> packed;
  for (const auto& [first, last] : slices) {
    HPCNN_CHECK(first >= 0 && first <= last && last <= static_cast<int64_t>(full.size()), "scatter_shard: slice [",
                first, ", ", last, ") outside the ", full.size(), " floats saved");
    packed.insert(packed.end(), full.begin() + first, full.begin() + last);
  }
  return packed;
}

std::vector<float> scatter_shard(Communicator& comm, std::span<const Range> slices, std::span<const float> full,
                                 int64_t count, int root) {
  const bool at_root = comm.rank() == root;
  // Checked on every rank before the scatter, so a bad vector or slice throws everywhere instead of hanging.
  int64_t held = at_root ? static_cast<int64_t>(full.size()) : 0;
  MPI_CHECK(MPI_Bcast(&held, 1, MPI_INT64_T, root, comm.comm()));
  HPCNN_CHECK(held == count, "scatter_shard: rank ", root, " holds ", held, " floats, not ", count);
  std::vector<int64_t> flat;
  int64_t mine = 0;
  int inside = 1;
  for (const auto& [first, last] : slices) {
    if (!(first >= 0 && first <= last && last <= count)) inside = 0;
    flat.push_back(first);
    flat.push_back(last);
    mine += last - first;
  }
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &inside, 1, MPI_INT, MPI_MIN, comm.comm()));
  HPCNN_CHECK(inside == 1, "scatter_shard: a rank's slice lies outside the ", count, " floats");
  const int p = comm.size();
  const int n_flat = as_int(static_cast<int64_t>(flat.size()), "slice bounds");
  const int n_values = as_int(mine, "values");
  std::vector<int> flat_counts(static_cast<size_t>(p)), value_counts(static_cast<size_t>(p));
  MPI_CHECK(MPI_Gather(&n_flat, 1, MPI_INT, flat_counts.data(), 1, MPI_INT, root, comm.comm()));
  MPI_CHECK(MPI_Gather(&n_values, 1, MPI_INT, value_counts.data(), 1, MPI_INT, root, comm.comm()));
  std::vector<int> flat_at(static_cast<size_t>(p), 0), value_at(static_cast<size_t>(p), 0);
  int64_t all_flat = 0, all_values = 0;
  if (at_root) {
    for (int r = 0; r < p; ++r) {
      flat_at[static_cast<size_t>(r)] = as_int(all_flat, "slice bounds");
      value_at[static_cast<size_t>(r)] = as_int(all_values, "values");
      all_flat += flat_counts[static_cast<size_t>(r)];
      all_values += value_counts[static_cast<size_t>(r)];
    }
  }
  std::vector<int64_t> all_bounds(static_cast<size_t>(all_flat));
  MPI_CHECK(MPI_Gatherv(flat.data(), n_flat, MPI_INT64_T, all_bounds.data(), flat_counts.data(), flat_at.data(),
                        MPI_INT64_T, root, comm.comm()));
  // Root packs every rank's slices in rank order (the bounds were checked by their owners).
  std::vector<float> send;
  if (at_root) {
    send.reserve(static_cast<size_t>(all_values));
    for (size_t k = 0; k + 1 < all_bounds.size(); k += 2) {
      send.insert(send.end(), full.begin() + all_bounds[k], full.begin() + all_bounds[k + 1]);
    }
  }
  std::vector<float> packed(static_cast<size_t>(mine));
  MPI_CHECK(MPI_Scatterv(send.data(), value_counts.data(), value_at.data(), MPI_FLOAT, packed.data(), n_values,
                         MPI_FLOAT, root, comm.comm()));
  return packed;
}

BlockGatherer::BlockGatherer(Communicator& comm, AllreduceAlgo algo, int64_t count)
    : comm_(comm), algo_(algo), schedule_(count) {
  check_reduce_scatter(algo_, GradCompression::kNone);
  HPCNN_CHECK(comm.size() == 1 || mpi_thread_level_at_least(reducer_thread_level()),
              "the sharded all-gather's thread needs MPI_THREAD_SERIALIZED, which this MPI did not grant");
  thread_ = std::thread([this] { run(); });
}

BlockGatherer::~BlockGatherer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  ready_cv_.notify_all();
  // Unwinding from an error in a multi-rank job the thread may sit in a
  // gather the other ranks never join: leave it (the job is aborted), as the
  // reducer's communication thread.
  if (std::uncaught_exceptions() > 0) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

void BlockGatherer::begin(float* data) {
  std::lock_guard<std::mutex> lock(mutex_);
  HPCNN_CHECK(marked_ == gathered_, "block gatherer: begin() while ", marked_ - gathered_, " blocks are in flight");
  data_ = data;
  marked_ = gathered_ = 0;
  error_ = nullptr;
}

void BlockGatherer::ready(int64_t block) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    HPCNN_CHECK(block == marked_ && block < schedule_.num_blocks(), "block gatherer: block ", block,
                " marked ready, expected block ", marked_, " of ", schedule_.num_blocks());
    ++marked_;
  }
  ready_cv_.notify_all();
}

double BlockGatherer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  HPCNN_CHECK(marked_ == schedule_.num_blocks(), "block gatherer: finish() with ", schedule_.num_blocks() - marked_,
              " of ", schedule_.num_blocks(), " blocks never marked ready");
  done_cv_.wait(lock, [this] { return gathered_ == marked_ || error_; });
  if (error_) std::rethrow_exception(error_);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int64_t BlockGatherer::gathered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return gathered_;
}

void BlockGatherer::run() {
  pthread_setname_np(pthread_self(), "hpcnn-gather");
  // As the reducer's communication thread (kCommThreadNice there): woken for
  // every block while the optimizer keeps the core busy, it runs at once
  // instead of after a time slice (needs CAP_SYS_NICE; else no change).
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), -10);
  while (true) {
    int64_t b = 0;
    float* data = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_cv_.wait(lock, [this] { return stop_ || (gathered_ < marked_ && !error_); });
      if (stop_) return;
      b = gathered_;
      data = data_;
    }
    std::exception_ptr failure;
    try {
      const int64_t first = schedule_.block_start(b);
      all_gather(comm_, algo_, data + first, schedule_.block_end(b) - first, GradCompression::kNone);
    } catch (...) {
      failure = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (failure) {
        error_ = failure;  // no further block is gathered in this pass; finish() rethrows
      } else {
        ++gathered_;
      }
    }
    done_cv_.notify_all();
  }
}

namespace {
/// DirectGatherer's messages: apart from the exchanges' chunk-index tags
/// (small) and gather_shard's.
constexpr int kDirectGatherTag = 0x5a19;
}  // namespace

DirectGatherer::DirectGatherer(Communicator& comm, std::span<const Range> slices, int64_t count)
    : comm_(comm), num_blocks_(BlockSchedule(count).num_blocks()) {
  const BlockSchedule blocks(count);
  HPCNN_CHECK(static_cast<int64_t>(slices.size()) == num_blocks_, "direct gatherer: ", slices.size(), " slices for ",
              num_blocks_, " blocks");
  std::vector<int64_t> flat;
  for (int64_t b = 0; b < num_blocks_; ++b) {
    const auto [first, last] = slices[static_cast<size_t>(b)];
    HPCNN_CHECK(blocks.block_start(b) <= first && first <= last && last <= blocks.block_end(b),
                "direct gatherer: slice [", first, ", ", last, ") outside block ", b);
    flat.push_back(first);
    flat.push_back(last);
  }
  const int p = comm_.size();
  std::vector<int64_t> all(flat.size() * static_cast<size_t>(p));
  MPI_CHECK(MPI_Allgather(flat.data(), as_int(static_cast<int64_t>(flat.size()), "slice bounds"), MPI_INT64_T,
                          all.data(), as_int(static_cast<int64_t>(flat.size()), "slice bounds"), MPI_INT64_T,
                          comm_.comm()));
  all_slices_.reserve(all.size() / 2);
  for (size_t k = 0; k + 1 < all.size(); k += 2) all_slices_.emplace_back(all[k], all[k + 1]);
  // Every block's slices tile it: checked on every rank alike (each holds all of them), so all throw together.
  for (int64_t b = 0; b < num_blocks_; ++b) {
    std::vector<Range> in_block;
    for (int r = 0; r < p; ++r) in_block.push_back(all_slices_[static_cast<size_t>(r * num_blocks_ + b)]);
    std::sort(in_block.begin(), in_block.end());
    int64_t next = blocks.block_start(b);
    for (const auto& [first, last] : in_block) {
      if (last == first) continue;
      HPCNN_CHECK(first == next, "direct gatherer: the ranks' slices of block ", b, " overlap or leave a gap at ",
                  std::min(first, next));
      next = last;
    }
    HPCNN_CHECK(next == blocks.block_end(b), "direct gatherer: the ranks' slices of block ", b, " end at ", next,
                ", not ", blocks.block_end(b));
  }
}

DirectGatherer::~DirectGatherer() {
  // Unwinding from an error in a multi-rank job (the job is about to be
  // aborted): cancel what is posted, do not wait for peers that never come.
  drop_requests();
}

void DirectGatherer::drop_requests() {
  for (MPI_Request& r : requests_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Request_free(&r);
  }
  requests_.clear();
  open_ = false;
}

void DirectGatherer::begin(float* data) {
  HPCNN_CHECK(!open_, "direct gatherer: begin() while a pass is open");
  data_ = data;
  marked_ = 0;
  requests_.clear();
  open_ = true;
  // Every other rank's slices, received in place, posted before any is sent.
  const int p = comm_.size(), me = comm_.rank();
  for (int64_t b = 0; b < num_blocks_; ++b) {
    for (int r = 0; r < p; ++r) {
      if (r == me) continue;
      const auto [first, last] = all_slices_[static_cast<size_t>(r * num_blocks_ + b)];
      if (last == first) continue;
      requests_.emplace_back();
      MPI_CHECK(MPI_Irecv(data_ + first, as_int(last - first, "values"), MPI_FLOAT, r, kDirectGatherTag, comm_.comm(),
                          &requests_.back()));
    }
  }
}

void DirectGatherer::ready(int64_t block) {
  HPCNN_CHECK(open_ && block == marked_ && block < num_blocks_, "direct gatherer: block ", block,
              " marked ready, expected block ", marked_, " of ", num_blocks_);
  ++marked_;
  const int p = comm_.size(), me = comm_.rank();
  const auto [first, last] = all_slices_[static_cast<size_t>(me * num_blocks_ + block)];
  if (last == first || p == 1) return;
  // To every other rank, starting with the next one (so that not every rank sends to rank 0 first).
  for (int k = 1; k < p; ++k) {
    requests_.emplace_back();
    MPI_CHECK(MPI_Isend(data_ + first, as_int(last - first, "values"), MPI_FLOAT, (me + k) % p, kDirectGatherTag,
                        comm_.comm(), &requests_.back()));
  }
  // One pass of MPI's progress (it matches and copies what has arrived),
  // through a test of the send just posted: O(1), where a test of every
  // request would be O(blocks) per block (1,580 blocks at 414 M parameters).
  int done = 0;
  MPI_CHECK(MPI_Test(&requests_.back(), &done, MPI_STATUS_IGNORE));
}

double DirectGatherer::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  HPCNN_CHECK(open_, "direct gatherer: finish() without begin()");
  HPCNN_CHECK(marked_ == num_blocks_, "direct gatherer: finish() with ", num_blocks_ - marked_, " of ", num_blocks_,
              " blocks never marked ready");
  MPI_CHECK(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE));
  requests_.clear();
  open_ = false;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace hpcnn::comm
