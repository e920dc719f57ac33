// The ranks of a job and how they sit on nodes.
//
// A Communicator duplicates an MPI communicator (so hpcnn's traffic never
// mixes with anyone else's) and derives the node structure the hierarchical
// and shared-memory all-reduces need: a communicator per node, and one
// between node leaders (node rank 0). `ranks_per_node` > 0 pretends nodes of
// that many consecutive ranks, so multi-node algorithms can be tested on one
// machine; 0 asks MPI which ranks share memory. RAII and move-only.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hpcnn::comm {

/// The MPI library's name and version, first line only ("Open MPI v4.1.4").
std::string mpi_library_version();

class Communicator {
 public:
  /// `duplicate` false uses `parent` itself instead of a duplicate (never
  /// freed here): for hpcnn-sim, whose simulated ranks do nothing else with
  /// MPI_COMM_WORLD, because under SimGrid SMPI every new communicator of p
  /// ranks costs O(p^2) (each rank's copy of its group): MPI_Comm_dup of
  /// 1,024 ranks took ~20 s of CPU (results/sim/scale-1024-4096.txt).
  explicit Communicator(MPI_Comm parent, int ranks_per_node = 0, bool duplicate = true);
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&&) = delete;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  MPI_Comm comm() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  MPI_Comm node_comm() const { return node_comm_; }
  int node_rank() const { return node_rank_; }
  int node_size() const { return node_size_; }
  /// Communicator of the node leaders once leaders() has made it; MPI_COMM_NULL before and on other ranks.
  MPI_Comm leader_comm() const { return leader_comm_; }
  int num_nodes() const { return num_nodes_; }
  /// True when every node holds the same number of consecutive ranks.
  bool regular_nodes() const { return regular_nodes_; }
  /// True when rank `other` sits on this rank's node.
  bool same_node(int other) const {
    return node_of_[static_cast<size_t>(other)] == node_of_[static_cast<size_t>(rank_)];
  }

  /// Every rank waits for all the others.
  void barrier();
  /// Sums `count` doubles over all ranks, in place.
  void sum(double* values, int count);
  /// The largest `value` over all ranks.
  double max(double value);
  /// True on every rank when all ranks passed the same `value`.
  bool all_equal(uint64_t value);
  /// Rank `root`'s `count` floats, on every rank.
  void broadcast(float* data, int64_t count, int root = 0);
  /// Every rank's `text`, in rank order, on rank `root` (empty elsewhere).
  std::vector<std::string> gather(const std::string& text, int root = 0);
  /// `text` as rank `root` has it, on every rank (checked MPI calls).
  std::string broadcast(std::string text, int root = 0);

  /// The node leaders as a Communicator of their own (made on first use, by
  /// all leaders together); nullptr on ranks that are not leaders.
  Communicator* leaders();

  /// Host scratch space of at least `count` floats (grown on demand, reused).
  float* scratch(int64_t count);
  /// Bytes the all-reduces keep between calls: the scratch space (the node
  /// leaders' too) and this rank's slot of the node-shared window, unless the
  /// window holds the gradients themselves (then they count as gradients).
  int64_t buffer_bytes() const;

  /// A node-shared window with one slot of `count` floats per node rank, plus
  /// the base pointer of every node rank's slot. Reallocated (collectively on
  /// the node) when a larger one is asked for.
  struct SharedSlots {
    std::vector<float*> slot;  ///< indexed by node rank
    int64_t capacity = 0;      ///< floats per slot
  };
  const SharedSlots& shared_slots(int64_t count);
  /// This rank's slot of a node-shared window of `count` floats per rank, to
  /// hold the gradient buffer itself (zero-copy shared-memory all-reduce).
  /// Collective on the node. The window is then pinned: it is never
  /// reallocated while this communicator lives.
  float* gradient_window(int64_t count);
  /// Offset of [p, p + count) inside this rank's slot, or -1 when it is not
  /// there (the all-reduce then copies in and out).
  int64_t offset_in_my_slot(const float* p, int64_t count) const;
  /// Memory-ordering barrier for the shared window (MPI_Win_sync + barrier + sync).
  void node_sync();

 private:
  void free_window();

  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owns_comm_ = true;  ///< comm_ is our duplicate (freed with us), not the parent
  MPI_Comm node_comm_ = MPI_COMM_NULL;
  MPI_Comm leader_comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, node_rank_ = 0, node_size_ = 1, num_nodes_ = 1;
  bool regular_nodes_ = true;
  std::vector<int> node_of_;  ///< every rank's node, as the rank of its node leader
  std::vector<float> scratch_;
  MPI_Win window_ = MPI_WIN_NULL;
  SharedSlots slots_;
  bool window_pinned_ = false;  ///< the window holds gradients: never reallocate
  std::unique_ptr<Communicator> leaders_;
};

}  // namespace hpcnn::comm
