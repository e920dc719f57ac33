// The all-reduce cost model: per algorithm an alpha-beta-gamma model,
//
//   time = alpha_inter * A_inter + beta_inter * B_inter
//        + alpha_intra * A_intra + beta_intra * B_intra + gamma * R,
//
// where A counts the messages on the critical path, B the bytes a rank's link
// carries one way on it (inter: between nodes, intra: inside a node, through
// memory), R the bytes one rank reduces; cost_terms() gives the counts of
// each algorithm from its steps (docs/algorithms.md), the parameters come
// from link figures (a default, or the platform's) or from a least-squares fit
// to measurements (hpcnn-merge allreduce --fit). `auto` picks the algorithm
// the model predicts fastest (choose_by_model).
//
// Pure arithmetic: no MPI call is made here, and nothing of the comm library
// is used, so hpcnn-merge links it alone (library hpcnn_cost_model).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/allreduce.hpp"

namespace hpcnn::comm {

/// Where an all-reduce runs: `ranks` ranks on nodes of `ranks_per_node`
/// (the last node may hold fewer; `regular` false means not every node holds
/// the same number of consecutive ranks, which hier needs).
struct Placement {
  int ranks = 1;
  int ranks_per_node = 1;
  bool regular = true;
  /// Nodes that share one switch whose link towards another switch carries
  /// all their flows to it (a dragonfly's router, one link a router pair);
  /// 0 or 1: no such sharing (a full-bisection fat-tree). Set from the model
  /// (CostModel::nodes_per_switch) by choose_by_model.
  int nodes_per_switch = 0;
  /// A two-level fat-tree of leaf switches of this many nodes, as many spine
  /// switches as a leaf has nodes (full bisection) and SimGrid's FatTreeZone
  /// routing (d-mod-k: towards node d through spine d mod k); 0: no leaves
  /// known. Then a step's bytes count as often as the most flows that share
  /// one link on it (rhd's partners at some distances share up-links where
  /// the leaf size is no power of two) and its messages cross 4 links between
  /// leaves, 2 inside one (the hop term). Set from the model
  /// (CostModel::fattree_leaf) by choose_by_model.
  int nodes_per_leaf = 0;
  /// A 3-D torus of these sides (x fastest in the node number), SimGrid's
  /// TorusZone routing (dimension order, the shorter way round, one link a
  /// hop); all 0: no torus known. Then, as on the fat-tree, a step's bytes
  /// count as often as the most flows on one link and its hops are counted.
  std::array<int, 3> torus_dims{};
  bool has_torus() const { return torus_dims[0] > 0; }
  /// A dragonfly of {groups, chassis a group, routers a chassis, nodes a
  /// router} (SimGrid's topo_parameters "G,1;C,1;R,1;N", nodes numbered
  /// router by router, chassis by chassis, group by group) and SimGrid 3.32's
  /// DragonflyZone routing (minimal, static: a group reaches group j only
  /// through router j of its chassis 0, one link a group pair); all 0: no
  /// dragonfly known. Then, as on the torus, a step's bytes count as often as
  /// the most flows on one directed link (a node's, a router pair's in a
  /// chassis, between chassis, between groups) and the links of its longest
  /// route are counted. Set from the model (CostModel::dragonfly_for) by
  /// choose_by_model.
  std::array<int, 4> dragonfly{};
  bool has_dragonfly() const { return dragonfly[0] > 0; }
  /// Depth in bytes of a token-bucket shaper on each direction of a node's
  /// link (tools/cluster's `tc tbf ... burst 256kb`); 0: none (a wire, the
  /// simulator). A direction that idled banks up to this many bytes, which
  /// then pass at the underlying speed: tree's and central's phases, which
  /// use one direction of the busiest link then the other, count less (see
  /// tree_terms, central_terms). Set from the model (CostModel::link_burst_bytes).
  double link_burst_bytes = 0;
  /// The MPI library's exchanges between nodes move one direction at a time
  /// (Open MPI 4.1's TCP BTL on tools/cluster's lab: MPI_Allreduce of 16 MiB
  /// on 2 nodes took 243 ms, Rabenseifner's S/2 each way then back 134 ms if
  /// both directions ran at once, 268 ms if they take turns;
  /// results/sim/fit-lab-cluster-1gbit-steady/refit-mpi-terms). Then the `mpi`
  /// algorithm's steps that exchange messages above the library's eager
  /// limit (512 KiB, tools/cluster's) with a partner on another node
  /// (Rabenseifner, recursive doubling, the ring, as mpi_algorithm picks
  /// them) count the bytes of both directions on the link; its steps inside a
  /// node, its fold and every other algorithm (hpcnn's own chunked exchanges
  /// are full duplex) are unchanged. false: full duplex (the simulator's
  /// SPLITDUPLEX links). Set from the model (CostModel::library_half_duplex).
  bool library_half_duplex = false;
  int nodes() const { return (ranks + ranks_per_node - 1) / ranks_per_node; }
};

/// The algorithms the model knows (ring, tree, rhd, central, mpi, shm, hier,
/// in all_allreduce_algos() order), their names, a name back to the enum.
std::vector<AllreduceAlgo> modelled_algos();
const char* modelled_name(AllreduceAlgo algo);
AllreduceAlgo parse_modelled(const std::string& name);

inline constexpr int kCostTerms = 6;
/// Term order in cost_terms() and CostParams::values(). kHop: seconds per
/// link a message crosses on the longest path of its step (a switch hop's
/// latency); without leaves (Placement::nodes_per_leaf 0) every message
/// between nodes crosses 2 and the term folds into alpha_inter.
enum CostTerm { kAlphaInter = 0, kBetaInter = 1, kAlphaIntra = 2, kBetaIntra = 3, kGamma = 4, kHop = 5 };
/// "alpha_inter", "beta_inter", "alpha_intra", "beta_intra", "gamma", "alpha_hop".
const char* cost_term_name(int term);

/// One algorithm's parameters: seconds per message, seconds per byte.
struct CostParams {
  std::array<double, kCostTerms> values{};
  double operator[](int term) const { return values[static_cast<size_t>(term)]; }
};

/// The counts of each term for one all-reduce of `bytes` by `algo` (not auto
/// or nccl) on `where`. Throws for shm across nodes.
std::array<double, kCostTerms> cost_terms(AllreduceAlgo algo, const Placement& where, double bytes);
double predict_seconds(const CostParams& params, AllreduceAlgo algo, const Placement& where, double bytes);

/// One step in which rank r sends to partner[r] (-1: nothing) on `where`'s
/// network, as the terms count it: the most flows that share one directed
/// link and the most links one flow crosses (with a fat-tree's leaves, a
/// torus or a dragonfly; without, 1 and 2 where some flow leaves its node).
struct LinkLoad {
  int flows = 0, links = 0;
};
LinkLoad step_link_load(const Placement& where, const std::vector<int>& partner);

/// What `mpi` (the MPI library's MPI_Allreduce) runs for `bytes` on `ranks`
/// ranks: Open MPI 4.1's fixed decision rules for a commutative operation,
/// which SimGrid's `smpi/coll-selector:ompi` copies. cost_terms(kMpi) counts
/// the terms of that algorithm.
enum class MpiAllreduce { kRecursiveDoubling, kRing, kRabenseifner, kReduceBroadcast };
MpiAllreduce mpi_algorithm(int ranks, double bytes);

/// Physical figures a model can be built from without measurements. The
/// network's default is commodity Ethernet (10 Gbit/s, 20 us through the
/// TCP stack): where it is slower than assumed, auto errs towards algorithms
/// that move fewer bytes between nodes (hier), which costs little on a fast
/// network; the other way round it would cost a lot. HPCNN_LINK sets them.
struct LinkFigures {
  double latency_s = 20e-6;               ///< one message between nodes, software included
  double bandwidth_bytes_s = 1.25e9;      ///< a node's link, each way (10 Gbit/s)
  double memory_latency_s = 1e-6;         ///< one message (or barrier step) inside a node
  double memory_bandwidth_bytes_s = 8e9;  ///< one core copying (memcpy of 18 MB here: 7-10 GB/s)
  double reduce_bytes_s = 8e9;            ///< one core adding float arrays, bytes of input a second
  int nodes_per_switch = 0;               ///< Placement::nodes_per_switch of the network (0: full bisection)
};

/// "100Gbps,2us[,4]" (link rate, SimGrid/bit units Gbps, Mbps, GBps, MBps; one-way latency us, ms, ns or
/// s; nodes a switch, LinkFigures::nodes_per_switch) over the defaults; throws UsageError naming the text.
LinkFigures parse_link_figures(const std::string& text);

/// Per algorithm its parameters; algorithms without any cannot be chosen.
struct CostModel {
  std::map<AllreduceAlgo, CostParams> params;
  std::string source;  ///< where the numbers came from, for run.json and reports
  /// The network's Placement::nodes_per_switch (JSON "nodes_per_switch",
  /// optional; a fit on one topology applied to another sets it by hand).
  int nodes_per_switch = 0;
  /// Placement::nodes_per_leaf of the network: N > 0 nodes a leaf, -1 the
  /// leaf size tools/sim/platform.py gives a fat-tree of n nodes,
  /// ceil(sqrt(n)) (JSON "fattree_nodes_per_leaf": N or "sqrt"), 0 none.
  int fattree_leaf = 0;
  /// Placement::nodes_per_leaf for `nodes` nodes under fattree_leaf.
  int leaf_for(int nodes) const;
  /// Placement::torus_dims: fixed sides, or (torus_cbrt) the sides
  /// tools/sim/platform.py gives a torus of n nodes (x = round(cbrt n), less
  /// while x^3 > 1.5 n; y = ceil(sqrt(n / x)); z = ceil(n / (x y))). JSON
  /// "torus_dims": [x, y, z] or "cbrt".
  std::array<int, 3> torus_dims{};
  bool torus_cbrt = false;
  /// Placement::link_burst_bytes of the network (JSON "link_burst_bytes",
  /// optional; hpcnn-merge allreduce --fit --link-burst).
  double link_burst_bytes = 0;
  /// Placement::library_half_duplex of the network (JSON
  /// "library_half_duplex", optional; hpcnn-merge allreduce --fit
  /// --library-half-duplex).
  bool library_half_duplex = false;
  std::array<int, 3> torus_for(int nodes) const;
  /// Placement::dragonfly: a fixed layout, or (dragonfly_platform) the one
  /// tools/sim/platform.py builds for n nodes (4 nodes a router, 2 chassis a
  /// group, 4 routers a chassis and ceil(n / 32) groups; while the groups
  /// outnumber the routers a chassis, which SimGrid 3.32 cannot route, one
  /// more router a chassis and groups = ceil(n / (8 routers))). JSON
  /// "dragonfly": [groups, chassis, routers, nodes] or "platform".
  std::array<int, 4> dragonfly{};
  bool dragonfly_platform = false;
  std::array<int, 4> dragonfly_for(int nodes) const;

  /// The same physical parameters for ring, tree, rhd, central, shm and hier
  /// (mpi is the library's own choice: no model without a fit).
  static CostModel from_links(const LinkFigures& links, const std::string& source);
  /// The JSON written by hpcnn-merge allreduce --fit (docs/formats.md, "cost model").
  static CostModel from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

/// What `auto` chooses: the algorithm, its predicted time, every candidate's.
struct AutoChoice {
  AllreduceAlgo algo = AllreduceAlgo::kRing;
  double predicted_s = 0;
  std::vector<std::pair<AllreduceAlgo, double>> candidates;  ///< predicted seconds, in all_allreduce_algos() order
};

/// The algorithms `model` has parameters for and that can run on `where`
/// (shm: one node of several ranks; hier: several regular nodes of several
/// ranks; mpi: not where Open MPI's rules reduce then broadcast, which its
/// model does not describe), the fastest predicted first chosen (ties: the earlier in
/// all_allreduce_algos()). Throws when none can.
AutoChoice choose_by_model(const CostModel& model, const Placement& where, double bytes);

/// choose_by_model's answers for one model, remembered per (placement, byte
/// count): with a topology (fat-tree leaves, a torus) each decision walks
/// every flow of every step of every candidate, milliseconds at 1,024 ranks
/// (results/sim/auto-cache), and auto decides on every bucket of every step.
/// The model must outlive the cache and not change while it is used. Safe to
/// call from several threads. Holds at most kMaxEntries answers; past that it
/// answers without remembering.
class AutoChoiceCache {
 public:
  static constexpr size_t kMaxEntries = 4096;
  explicit AutoChoiceCache(const CostModel& model) : model_(model) {}
  /// choose_by_model(model, where, bytes), computed once per key.
  AutoChoice choose(const Placement& where, double bytes);
  size_t size() const;

 private:
  using Key = std::tuple<int, int, bool, int, int, std::array<int, 3>, std::array<int, 4>, double, bool,
                         double>;  // ..., burst, half duplex, bytes
  const CostModel& model_;
  mutable std::mutex mutex_;
  std::map<Key, AutoChoice> choices_;
};

/// The cache of process_cost_model()'s choices (choose_allreduce and
/// auto_choice_json go through it).
AutoChoiceCache& process_choice_cache();

/// `comm`'s placement, the same on every rank (auto must pick the same
/// algorithm everywhere): ranks per node is size / nodes rounded up, not this
/// rank's node size, which differs between ranks on irregular nodes.
Placement placement_of(const Communicator& comm);

/// The model `auto` uses in this process, read once: HPCNN_COST_MODEL (a
/// JSON file of hpcnn-merge allreduce --fit), else HPCNN_LINK (link figures,
/// parse_link_figures), else the defaults of LinkFigures.
const CostModel& process_cost_model();

/// For run.json: what auto picks for `count` floats on `comm` and why,
/// {"algo", "predicted_us", "bytes", "ranks", "ranks_per_node", "model",
/// "candidates_us": {algo: us}}. Makes no MPI call.
nlohmann::json auto_choice_json(const Communicator& comm, int64_t count);

/// One measurement: `algo` on `where` reduced `bytes` in `seconds`.
struct CostSample {
  AllreduceAlgo algo = AllreduceAlgo::kRing;
  Placement where;
  double bytes = 0, seconds = 0;
};

struct CostFit {
  CostParams params;
  /// Per term: false when no sample exercises it (its parameter stays 0).
  std::array<bool, kCostTerms> exercised{};
  /// Per term: true when it is exercised but a combination of the others
  /// (ring's gamma and beta: it reduces half of what it receives): its
  /// share is folded into the others and it is reported as 0.
  std::array<bool, kCostTerms> collinear{};
  int samples = 0;
  double rms_relative = 0, max_relative = 0;  ///< of (predicted - measured) / measured
};

/// Least squares on the relative error, every parameter >= 0, over the
/// samples of `algo` (the others are ignored). Throws with fewer samples than
/// exercised terms.
CostFit fit_cost(AllreduceAlgo algo, const std::vector<CostSample>& samples);

}  // namespace hpcnn::comm
