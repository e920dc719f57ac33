// Communicator: duplicated MPI communicator, node split, shared window.
#include "comm/communicator.hpp"

#include <exception>
#include <limits>

#include "core/check.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

Communicator::Communicator(MPI_Comm parent, int ranks_per_node, bool duplicate) : owns_comm_(duplicate) {
  if (duplicate) {
    MPI_CHECK(MPI_Comm_dup(parent, &comm_));
  } else {
    comm_ = parent;
  }
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
  if (ranks_per_node > 0) {
    MPI_CHECK(MPI_Comm_split(comm_, rank_ / ranks_per_node, rank_, &node_comm_));
  } else {
    MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_comm_));
  }
  MPI_CHECK(MPI_Comm_rank(node_comm_, &node_rank_));
  MPI_CHECK(MPI_Comm_size(node_comm_, &node_size_));
  int leader = rank_;
  MPI_CHECK(MPI_Bcast(&leader, 1, MPI_INT, 0, node_comm_));
  node_of_.resize(static_cast<size_t>(size_));
  MPI_CHECK(MPI_Allgather(&leader, 1, MPI_INT, node_of_.data(), 1, MPI_INT, comm_));
  int leaders = node_rank_ == 0 ? 1 : 0;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &leaders, 1, MPI_INT, MPI_SUM, comm_));
  num_nodes_ = leaders;
  // Regular: every node has the same size and holds consecutive ranks.
  int sizes[2] = {node_size_, -node_size_};
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sizes, 2, MPI_INT, MPI_MAX, comm_));
  int consecutive = rank_ == (rank_ / node_size_) * node_size_ + node_rank_ ? 1 : 0;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &consecutive, 1, MPI_INT, MPI_MIN, comm_));
  regular_nodes_ = sizes[0] == -sizes[1] && consecutive == 1;
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(other.comm_),
      owns_comm_(other.owns_comm_),
      node_comm_(other.node_comm_),
      leader_comm_(other.leader_comm_),
      rank_(other.rank_),
      size_(other.size_),
      node_rank_(other.node_rank_),
      node_size_(other.node_size_),
      num_nodes_(other.num_nodes_),
      regular_nodes_(other.regular_nodes_),
      node_of_(std::move(other.node_of_)),
      scratch_(std::move(other.scratch_)),
      window_(other.window_),
      slots_(std::move(other.slots_)),
      window_pinned_(other.window_pinned_),
      leaders_(std::move(other.leaders_)) {
  other.comm_ = other.node_comm_ = other.leader_comm_ = MPI_COMM_NULL;
  other.window_ = MPI_WIN_NULL;
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // Freeing communicators and windows is collective; while unwinding from an
  // error the other ranks may never join, and main() aborts the job anyway.
  if (finalized || std::uncaught_exceptions() > 0) return;
  leaders_.reset();
  free_window();
  if (!owns_comm_) comm_ = MPI_COMM_NULL;  // the parent's, not ours to free
  for (MPI_Comm* c : {&leader_comm_, &node_comm_, &comm_}) {
    if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
  }
}

void Communicator::barrier() { MPI_CHECK(MPI_Barrier(comm_)); }

void Communicator::sum(double* values, int count) {
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, comm_));
}

double Communicator::max(double value) {
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, comm_));
  return value;
}

bool Communicator::all_equal(uint64_t value) {
  uint64_t lo = value, hi = value;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, comm_));
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, comm_));
  return lo == hi;
}

void Communicator::broadcast(float* data, int64_t count, int root) {
  HPCNN_CHECK(count <= std::numeric_limits<int>::max(), "broadcast of ", count, " floats: too large for one MPI call");
  if (count > 0) MPI_CHECK(MPI_Bcast(data, static_cast<int>(count), MPI_FLOAT, root, comm_));
}

std::vector<std::string> Communicator::gather(const std::string& text, int root) {
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(rank_ == root ? static_cast<size_t>(size_) : 0);
  MPI_CHECK(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, comm_));
  std::vector<int> offsets(lengths.size(), 0);
  int total = 0;
  for (size_t r = 0; r < lengths.size(); ++r) {
    offsets[r] = total;
    total += lengths[r];
  }
  std::string all(static_cast<size_t>(total), '\0');
  MPI_CHECK(
      MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, root, comm_));
  std::vector<std::string> out;
  for (size_t r = 0; r < lengths.size(); ++r) {
    out.push_back(all.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(lengths[r])));
  }
  return out;
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_CHECK(MPI_Get_library_version(text, &length));
  const std::string v(text, static_cast<size_t>(length));
  return v.substr(0, v.find_first_of(",\n"));
}

std::string Communicator::broadcast(std::string text, int root) {
  auto length = static_cast<unsigned long long>(text.size());
  MPI_CHECK(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, comm_));
  text.resize(static_cast<size_t>(length));
  if (length > 0) MPI_CHECK(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, root, comm_));
  return text;
}

Communicator* Communicator::leaders() {
  if (node_rank_ != 0) return nullptr;
  if (!leaders_) {
    // Made here, by the leaders alone (MPI_Comm_create_group), not in the
    // constructor by every rank (MPI_Comm_split): only hier and the
    // hierarchical reduce-scatter need it, and under SimGrid SMPI a split of
    // p ranks costs O(p^2) (every rank's copy of the new group): 1.7 s of CPU
    // at 256 ranks, a quarter of the set-up at 1,024 (results/sim/scale-1024-4096.txt).
    std::vector<int> ranks;
    for (int r = 0; r < size_; ++r)
      if (node_of_[static_cast<size_t>(r)] == r) ranks.push_back(r);
    MPI_Group all = MPI_GROUP_NULL, group = MPI_GROUP_NULL;
    MPI_CHECK(MPI_Comm_group(comm_, &all));
    MPI_CHECK(MPI_Group_incl(all, static_cast<int>(ranks.size()), ranks.data(), &group));
    MPI_CHECK(MPI_Comm_create_group(comm_, group, 0, &leader_comm_));
    MPI_Group_free(&group);
    MPI_Group_free(&all);
    leaders_ = std::make_unique<Communicator>(leader_comm_, 1);
  }
  return leaders_.get();
}

int64_t Communicator::buffer_bytes() const {
  int64_t floats = static_cast<int64_t>(scratch_.capacity());
  if (window_ != MPI_WIN_NULL && !window_pinned_) floats += slots_.capacity;
  const int64_t leaders = leaders_ ? leaders_->buffer_bytes() : 0;
  return floats * static_cast<int64_t>(sizeof(float)) + leaders;
}

float* Communicator::scratch(int64_t count) {
  if (static_cast<int64_t>(scratch_.size()) < count) scratch_.resize(static_cast<size_t>(count));
  return scratch_.data();
}

void Communicator::free_window() {
  if (window_ != MPI_WIN_NULL) {
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);
    window_ = MPI_WIN_NULL;
  }
  slots_ = {};
}

float* Communicator::gradient_window(int64_t count) {
  HPCNN_CHECK(!window_pinned_, "the node-shared window already holds a gradient buffer");
  const SharedSlots& s = shared_slots(count);
  window_pinned_ = true;
  return s.slot[static_cast<size_t>(node_rank_)];
}

int64_t Communicator::offset_in_my_slot(const float* p, int64_t count) const {
  if (window_ == MPI_WIN_NULL || !window_pinned_) return -1;
  const float* mine = slots_.slot[static_cast<size_t>(node_rank_)];
  if (p < mine || p + count > mine + slots_.capacity) return -1;
  return p - mine;
}

const Communicator::SharedSlots& Communicator::shared_slots(int64_t count) {
  // Every node rank asks for the same count, so the decision is collective.
  if (window_ != MPI_WIN_NULL && slots_.capacity >= count) return slots_;
  HPCNN_CHECK(!window_pinned_, "the node-shared window holds the gradients and cannot grow to ", count,
              " floats per rank");
  free_window();
  const int64_t capacity = std::max<int64_t>(count, 1024);
  float* base = nullptr;
  MPI_CHECK(MPI_Win_allocate_shared(static_cast<MPI_Aint>(capacity * static_cast<int64_t>(sizeof(float))),
                                    sizeof(float), MPI_INFO_NULL, node_comm_, &base, &window_));
  MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_));
  slots_.capacity = capacity;
  slots_.slot.resize(static_cast<size_t>(node_size_));
  for (int r = 0; r < node_size_; ++r) {
    MPI_Aint size = 0;
    int disp = 0;
    float* ptr = nullptr;
    MPI_CHECK(MPI_Win_shared_query(window_, r, &size, &disp, &ptr));
    slots_.slot[static_cast<size_t>(r)] = ptr;
  }
  return slots_;
}

void Communicator::node_sync() {
  MPI_CHECK(MPI_Win_sync(window_));
  MPI_CHECK(MPI_Barrier(node_comm_));
  MPI_CHECK(MPI_Win_sync(window_));
}

}  // namespace hpcnn::comm
