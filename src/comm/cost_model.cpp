// The all-reduce cost model: term counts per algorithm, predictions, the
// model-based `auto`, and the non-negative least-squares fit.
#include "comm/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>

#include "core/error.hpp"

namespace hpcnn::comm {

namespace {

/// The modelled algorithms in all_allreduce_algos()' order, with their names:
/// this file is also linked into hpcnn-merge, without the comm library
/// (test_cost_model checks the names against modelled_name()).
constexpr std::pair<AllreduceAlgo, const char*> kModelled[] = {
    {AllreduceAlgo::kRing, "ring"},       {AllreduceAlgo::kTree, "tree"}, {AllreduceAlgo::kRhd, "rhd"},
    {AllreduceAlgo::kCentral, "central"}, {AllreduceAlgo::kMpi, "mpi"},   {AllreduceAlgo::kShm, "shm"},
    {AllreduceAlgo::kHier, "hier"}};

/// Bytes a chunk of detail::exchange, tree and central moves (kChunk floats).
constexpr double kChunkBytes = 256.0 * 1024.0;
/// Messages up to this size are sent eagerly (tree_terms).
constexpr double kEagerBytes = 65536.0;

int floor_log2(int p) {
  int k = 0;
  while ((2 << k) <= p) ++k;
  return k;
}

using Terms = std::array<double, kCostTerms>;

/// One step in which every rank sends to another at once, on the fat-tree of
/// Placement::nodes_per_leaf: the most flows between nodes that share one
/// directed link (a node's link to its leaf, a leaf's up-link to a spine, a
/// spine's down-link to a leaf) and the most links one flow crosses. SimGrid's
/// FatTreeZone (3.32) goes up from a leaf to spine d mod k for destination
/// node d. On the torus of Placement::torus_dims: its dimension-order routes.
struct StepLoad {
  int flows = 0, links = 0;
};

/// A directed link of the dragonfly: {kind, from, to}; kinds (apart from
/// step_load's fat-tree and torus kinds): node to its router (from: the node),
/// router to node, a chassis' router pair, a router pair between chassis of a
/// group (from, to: routers), between groups (from, to: groups).
enum DragonflyLink { kNodeUp = 8, kNodeDown, kGreen, kBlack, kBlue };

/// The links of SimGrid 3.32's DragonflyZone::get_local_route from node `src`
/// to node `dst` (another node) on the dragonfly `d` of Placement::dragonfly,
/// appended to `links`. Router (g, c, b) is number (g C + c) B + b. To another
/// group: to router g' of the chassis (a green link), to chassis 0 (black),
/// over the one blue link of the group pair to router g of the other group's
/// chassis 0; then to the destination's router (green), then to its chassis
/// (black). SimGrid takes the router after that green hop to be in chassis 0
/// whichever chassis it is in, and we count what it routes: inside a group,
/// from chassis 1 to a router of another blade in chassis 1 the route
/// crosses chassis 1's green link and then chassis 0 -> 1's black link of the
/// destination's blade; to chassis 0 it crosses no black link.
void dragonfly_route(const std::array<int, 4>& d, int src, int dst, std::vector<std::array<int, 3>>& links) {
  const int chassis = d[1], routers = d[2], per_router = d[3], per_group = chassis * routers * per_router;
  HPCNN_CHECK(std::max(src, dst) < d[0] * per_group, "cost model: node ", std::max(src, dst),
              " outside the dragonfly of ", d[0], " group(s) of ", per_group, " nodes");
  struct At {
    int g, c, b;
  };
  const auto router = [&](At a) { return (a.g * chassis + a.c) * routers + a.b; };
  const At from{src / per_group, src % per_group / (routers * per_router), src % (routers * per_router) / per_router};
  const At to{dst / per_group, dst % per_group / (routers * per_router), dst % (routers * per_router) / per_router};
  links.push_back({kNodeUp, src, 0});
  if (router(from) != router(to)) {
    At cur = from;
    if (to.g != cur.g) {
      if (cur.b != to.g) {
        const At next{cur.g, cur.c, to.g};
        links.push_back({kGreen, router(cur), router(next)});
        cur = next;
      }
      if (cur.c != 0) {
        const At next{cur.g, 0, to.g};
        links.push_back({kBlack, router(cur), router(next)});
        cur = next;
      }
      links.push_back({kBlue, from.g, to.g});
      cur = {to.g, 0, from.g};
    }
    if (to.b != cur.b) {
      links.push_back({kGreen, router(cur), router({cur.g, cur.c, to.b})});
      cur = {to.g, 0, to.b};  // SimGrid's currentRouter: chassis 0, not cur.c
    }
    if (to.c != cur.c) links.push_back({kBlack, router(cur), router({cur.g, to.c, cur.b})});
  }
  links.push_back({kNodeDown, dst, 0});
}

/// The links of SimGrid 3.32's TorusZone route from node `src` to node `dst`
/// (another node) on the torus of Placement::torus_dims, appended to `links`
/// as {4 + dimension, node, direction}: dimension by dimension, x first, the
/// shorter way round (decided on the source's coordinates); moving up uses
/// the current node's link of that dimension, moving down the next node's.
void torus_route(const std::array<int, 3>& dims, int src, int dst, std::vector<std::array<int, 3>>& links) {
  int cur = src;
  while (cur != dst) {
    int product = 1;
    for (int j = 0; j < 3; ++j) {
      const int dim = std::max(1, dims[static_cast<size_t>(j)]);
      const int here = (cur / product) % dim, there = (dst / product) % dim, mine = (src / product) % dim;
      if (here != there) {
        const bool up =
            (there > mine && there <= mine + dim / 2) || (mine > dim / 2 && (mine + dim / 2) % dim >= there);
        if (up) {
          links.push_back({4 + j, cur, 1});
          cur = here == dim - 1 ? cur + product - product * dim : cur + product;
        } else {
          cur = here == 0 ? cur - product + product * dim : cur - product;
          links.push_back({4 + j, cur, 0});
        }
        break;
      }
      product *= dim;
    }
  }
}

template <typename Partner>
StepLoad step_load(const Placement& where, int senders, Partner partner_of) {
  const int q = std::max(1, where.ranks_per_node), k = where.nodes_per_leaf;
  StepLoad out;
  // No topology known: 2 links between nodes (flows not counted: the callers
  // use them only with a topology). Said without walking every flow, which
  // would cost auto O(p) map updates per algorithm on each all-reduce it
  // resolves.
  if (k <= 0 && !where.has_torus() && !where.has_dragonfly()) {
    for (int r = 0; r < senders && out.links == 0; ++r) {
      const int to = partner_of(r);
      if (to >= 0 && r / q != to / q) out = {1, 2};
    }
    return out;
  }
  std::map<std::array<int, 3>, int> load;  // {kind, a, b}: 0 node up, 1 node down, 2 leaf up, 3 spine down
  if (where.has_dragonfly() || where.has_torus()) {
    std::vector<std::array<int, 3>> route;
    for (int r = 0; r < senders; ++r) {
      const int to = partner_of(r);
      if (to < 0 || r / q == to / q) continue;
      route.clear();
      if (where.has_dragonfly()) {
        dragonfly_route(where.dragonfly, r / q, to / q, route);
      } else {
        torus_route(where.torus_dims, r / q, to / q, route);
      }
      for (const auto& link : route) out.flows = std::max(out.flows, ++load[link]);
      out.links = std::max(out.links, static_cast<int>(route.size()));
    }
    return out;
  }
  for (int r = 0; r < senders; ++r) {
    const int to = partner_of(r);
    if (to < 0) continue;
    const int a = r / q, b = to / q;
    if (a == b) continue;
    const int up = ++load[{0, a, 0}], down = ++load[{1, b, 0}];
    out.flows = std::max({out.flows, up, down});
    out.links = std::max(out.links, 2);
    if (k > 0 && a / k != b / k) {
      const int spine = b % k;
      out.flows = std::max({out.flows, ++load[{2, a / k, spine}], ++load[{3, spine, b / k}]});
      out.links = 4;
    }
  }
  return out;
}

/// Whether step_load counts the flows on each link of `where`'s network (a
/// fat-tree's leaves, a torus, a dragonfly), not only whether a step leaves
/// the node.
bool has_routes(const Placement& where) {
  return where.nodes_per_leaf > 0 || where.has_torus() || where.has_dragonfly();
}

/// Inside a node a message is copied twice (into the MPI library's shared
/// segment and out of it: Open MPI's vader without CMA), so its bytes count
/// twice against the memory bandwidth.
constexpr double kIntraCopies = 2.0;

/// Latency and bandwidth counts `messages`, `link_bytes` on the link class of
/// `where` (between nodes when there are several, else inside the node).
void add_link(Terms& t, const Placement& where, double messages, double link_bytes) {
  const bool inter = where.nodes() > 1;
  t[inter ? kAlphaInter : kAlphaIntra] += messages;
  t[inter ? kBetaInter : kBetaIntra] += inter ? link_bytes : kIntraCopies * link_bytes;
}

/// Ring: 2(p-1) steps of S/p bytes each way, S(p-1)/p reduced. With
/// consecutive ranks on a node only one flow a direction leaves each node,
/// so the node's link carries what one rank sends; with several ranks a node
/// the other ranks of the ring pass the same bytes through memory at the same
/// time, counted on top (an upper bound: the two overlap).
void ring_terms(Terms& t, const Placement& where, double s) {
  const double p = where.ranks;
  add_link(t, where, 2 * (p - 1), 2 * s * (p - 1) / p);
  if (where.nodes() > 1) {
    const StepLoad load = step_load(where, where.ranks, [&](int r) { return (r + 1) % where.ranks; });
    t[kHop] += 2 * (p - 1) * load.links;
    // On a torus the hops that wrap to the next row share links (on the
    // fat-tree and without a topology one flow leaves each node: load 1). On
    // a dragonfly the wrap from the last node lands in group 0 on router
    // "last group" of chassis 0, whose green link to router 0 the hop from
    // chassis 0 to 1 may take too (platform.py's 128 nodes: 127 -> 0 and
    // 15 -> 16; SimGrid's routes, results/sim/auto-grid-32-1024/dragonfly-term):
    // 16 MiB on 128 ranks took 6,609.9 us, 4,198.3 counted with 1 flow.
    if ((where.has_torus() || where.has_dragonfly()) && where.ranks_per_node == 1)
      t[kBetaInter] += 2 * s * (p - 1) / p * (load.flows - 1);
  }
  if (where.nodes() > 1 && where.ranks_per_node > 1) t[kBetaIntra] += kIntraCopies * 2 * s * (p - 1) / p;
  t[kGamma] += s * (p - 1) / p;
}

/// The fold of rhd and rdb with p > p' ranks: the first 2(p - p') ranks pair
/// up, neighbours, the even one hands over S and gets the result back: two
/// more messages of S, inside a node unless nodes hold one rank.
void fold_terms(Terms& t, const Placement& where, double s) {
  const int q = std::min(where.ranks_per_node, where.ranks);
  const bool inter = where.nodes() > 1 && q == 1;
  t[inter ? kAlphaInter : kAlphaIntra] += 2;
  t[inter ? kBetaInter : kBetaIntra] += 2 * s * (inter ? 1 : kIntraCopies);
  t[kGamma] += s;
  if (inter) {
    const int extra = where.ranks - (1 << floor_log2(where.ranks));
    t[kHop] += 2 * step_load(where, 2 * extra, [](int r) { return r % 2 == 0 ? r + 1 : -1; }).links;
  }
}

/// Rabenseifner over p' = 2^floor(log2 p) ranks: halving at partner
/// distance p'/2, p'/4, .. 1 (S/2, S/4, .. bytes), doubling back in reverse.
/// A step whose partner is on another node (distance >= ranks per node)
/// sends from every rank of the node at once: the node's link carries
/// ranks-per-node flows. A step whose partner is on another switch
/// (Placement::nodes_per_switch n > 1, distance >= n nodes) sends every
/// node's flows of the switch over its one link to the partner switch: n
/// times the bytes. On the simulated dragonfly (4 nodes a router) 16 ranks of
/// 16 MiB took 9,852.8 us against 2,525 us from the link rate alone (-74 %),
/// 8,564 us with it (results/sim/auto-grid/README.md). With p > p' the
/// paired ranks first hand over S and get the result back (two more messages
/// of S).
int library_partner(int extra, int r, int dist);

void rhd_terms(Terms& t, const Placement& where, double s) {
  const int p2 = 1 << floor_log2(where.ranks);
  const int q = std::min(where.ranks_per_node, where.ranks);
  const int n = std::max(1, where.nodes_per_switch);
  const int extra = where.ranks - p2;
  double part = s;
  for (int dist = p2 / 2; dist >= 1; dist /= 2) {
    part /= 2;
    const bool inter = where.nodes() > 1 && dist >= q;
    int flows = q * (inter && n > 1 && dist / q >= n ? n : 1);  // flows on the busiest link
    if (inter && has_routes(where)) {
      // From the real ranks that take part (allreduce_rhd.cpp: virtual rank v
      // is real 2v + 1 below p - p', else v + p - p'), as the library's steps
      // are counted: taken as ranks 0 .. p'-1, 13 ranks on the dragonfly put
      // rhd's distance-4 step 3 flows on a router's green link where it
      // sends 2 (rhd fitted 29.7 % over at 13 ranks, 16 MiB).
      const StepLoad load = step_load(where, where.ranks, [&](int r) { return library_partner(extra, r, dist); });
      flows = load.flows;
      t[kHop] += 2 * load.links;
    } else if (inter) {
      t[kHop] += 2 * 2;
    }
    t[inter ? kAlphaInter : kAlphaIntra] += 2;  // halving and doubling
    t[inter ? kBetaInter : kBetaIntra] += 2 * part * (inter ? flows : kIntraCopies);
    t[kGamma] += part;
  }
  if (where.ranks > p2) {
    // The paired ranks are the first 2(p - p') ranks, neighbours: inside a
    // node unless nodes hold one rank.
    fold_terms(t, where, s);
  }
}

/// The partner of real rank r at virtual distance `dist` in the library's
/// recursive doubling and Rabenseifner with `extra` = p - p' ranks folded in
/// (the even ones of the first 2 extra, which sit the steps out: -1).
/// Virtual rank v is real 2v + 1 below extra, else v + extra.
int library_partner(int extra, int r, int dist) {
  const int v = r < 2 * extra ? (r % 2 == 1 ? r / 2 : -1) : r - extra;
  if (v < 0) return -1;
  const int u = v ^ dist;
  return u < extra ? 2 * u + 1 : u + extra;
}

/// Messages up to this many bytes the MPI library sends eagerly, without
/// waiting for the receiver: tools/cluster's OMPI_MCA_btl_tcp_eager_limit.
/// With Placement::library_half_duplex only the larger (rendezvous) ones
/// take turns: the lab's 4 KiB all-reduces took 35 us on 2 nodes, less than
/// the 66 us of 8 KiB at 1 Gbit/s that turns would take; counted as turns,
/// the fit made the link faster than the wire (0.17 GB/s) and missed by the
/// same 19-29 % at 16 MiB (results/sim/fit-lab-cluster-1gbit-v3/half-duplex).
constexpr double kLibraryEagerBytes = 512.0 * 1024.0;

/// How many directions of an exchange between nodes the MPI library's step
/// of `message_bytes` a message counts on the link: 2 where they take turns
/// (Placement::library_half_duplex, a rendezvous message), else 1 (both at
/// once). Only for `mpi`'s terms (rdb_terms, rab_terms and its ring); the
/// fold hands S over and back one after the other, already counted twice.
double library_directions(const Placement& where, double message_bytes) {
  return where.library_half_duplex && message_bytes > kLibraryEagerBytes ? 2.0 : 1.0;
}

/// Recursive doubling over p' = 2^floor(log2 p) ranks: log2 p' exchanges of
/// the whole buffer with partners 1, 2, .. p'/2 ranks away, each reduced; with
/// p > p' the paired ranks first hand over S and get the result back. Open
/// MPI's (and SimGrid's copy of its rules) `allreduce_intra_recursivedoubling`,
/// which `mpi` runs for small messages (mpi_algorithm). Far partners share a
/// switch's link as in rhd_terms.
/// One step of the library's exchanges between the real ranks `dist` apart
/// (library_partner), each rank sending `bytes`, `phases` times (rdb: 1;
/// rab: its reduce-scatter's step and its allgather's): rdb_terms, rab_terms.
void library_step(Terms& t, const Placement& where, int dist, double bytes, int phases) {
  const int p2 = 1 << floor_log2(where.ranks);
  const int q = std::min(where.ranks_per_node, where.ranks);
  const int n = std::max(1, where.nodes_per_switch);
  const int extra = where.ranks - p2;
  // The flows of the real ranks that take part (counted from virtual ranks
  // as sources, 13 ranks put ranks 0-7 in the steps, not 1, 3, .. 12). Between
  // nodes when some pair is (with p > p' the partners are further apart than
  // dist: 13 ranks on nodes of 2, distance 1 pairs ranks 1 and 3).
  const auto partner = [&](int r) { return library_partner(extra, r, dist); };
  const bool inter = where.nodes() > 1 && step_load(Placement{where.ranks, q, true}, where.ranks, partner).links > 0;
  int flows = q * (inter && n > 1 && dist / q >= n ? n : 1);
  if (inter && has_routes(where)) {
    const StepLoad load = step_load(where, where.ranks, partner);
    flows = std::max(1, load.flows);
    t[kHop] += phases * load.links;
  } else if (inter) {
    t[kHop] += phases * 2;
  }
  t[inter ? kAlphaInter : kAlphaIntra] += phases;
  t[inter ? kBetaInter : kBetaIntra] +=
      phases * bytes * (inter ? flows * library_directions(where, bytes) : kIntraCopies);
  t[kGamma] += bytes;
}

void rdb_terms(Terms& t, const Placement& where, double s) {
  const int p2 = 1 << floor_log2(where.ranks);
  for (int dist = 1; dist < p2; dist *= 2) library_step(t, where, dist, s, 1);
  if (where.ranks > p2) fold_terms(t, where, s);
}

/// Bytes of a phase that carries `phase_bytes` one way over a link shaped by
/// a token bucket of Placement::link_burst_bytes b, when the phases alternate
/// with equal ones the other way (tree: up then down; central: gather then
/// broadcast at the root) and the bench repeats them: the idle direction
/// refills at the link rate r for as long as the other phase lasts, up to b,
/// and sends that much at the underlying speed. A phase then takes t with
/// t = (X - min(b, r t)) / r: X - b once X >= 2b, X / 2 below (the two
/// directions take turns, each refilling while the other sends). Counted as
/// bytes the rate does not limit. On tools/cluster's 1 Gbit/s lab (b 256 KiB,
/// one chunk) central's 2 ranks of 16 MiB took 140.8 ms, not 268 ms
/// (2 x 16 MiB at 125 MB/s): each chunk goes up while the down direction
/// refills, and back while the up one does; 8 ranks on 4 nodes (6 chunks a
/// phase through the root's node link) 1,350 ms, and 10 S / r = 1,342 ms.
double burst_saving(const Placement& where, double phase_bytes) {
  return where.nodes() > 1 ? std::min(where.link_burst_bytes, phase_bytes / 2) : 0.0;
}

/// Rabenseifner as the MPI library runs it (Open MPI 4.1's
/// allreduce_intra_redscat_allgather, SimGrid's allreduce__rab_rdb): the
/// reduce-scatter halves the vector while the distance doubles, S/2 to the
/// partner 1 rank away, S/4 to 2 ranks away, .. S/p' to p'/2 away, and the
/// allgather runs the same steps backwards; the paired ranks of p > p' fold
/// in and out as in rdb. hpcnn's rhd halves over the far partner first
/// (allreduce_rhd.cpp), so where far partners share links (fat-tree leaves,
/// torus rows, a switch's link) their loads differ: on the simulated fat-tree
/// the library's 32 ranks of 16 MiB took 3,155.4 us, rhd 4,526.3, and the
/// model counted both as rhd (mpi 10.1 % over; results/sim/mpi-selector).
/// Flows are counted from the real ranks that take part (the first 2(p - p')
/// in pairs, their odd member).
void rab_terms(Terms& t, const Placement& where, double s) {
  const int p2 = 1 << floor_log2(where.ranks);
  double part = s;
  for (int dist = 1; dist < p2; dist *= 2) library_step(t, where, dist, part /= 2, 2);
  if (where.ranks > p2) fold_terms(t, where, s);
}

/// Binary tree, chunk by chunk: up (receive from up to two children, add,
/// send to the parent), then down (receive, send to the children), each a
/// pipeline of k chunks over depth d: k + d - 1 chunk steps, each as long as
/// the busiest rank's blocking transfers: its children plus its parent (2
/// ranks: 1, the root's one child; 3 and 4 ranks: 2; from 5 ranks: 3). Counting
/// children + 1 everywhere doubled the 2-rank tree's bytes, and the fit made
/// up for it with a link twice as fast as the wire (lab 1 Gbit/s: 0.46 GB/s).
void tree_terms(Terms& t, const Placement& where, double s) {
  const int p = where.ranks;
  const double k = std::max(1.0, std::ceil(s / kChunkBytes)), d = floor_log2(p);
  int busiest = 0;  // the most transfers one rank makes per chunk (ranks 0-2 include the busiest)
  for (int r = 0; r < std::min(p, 3); ++r)
    busiest = std::max(busiest, (2 * r + 1 < p) + (2 * r + 2 < p) + (r > 0 ? 1 : 0));
  const double children = std::min(2, p - 1), steps = k + d - 1, chunk = s / k;
  // Chunks up to the eager limit are sent without waiting for the receiver
  // (SimGrid's smpi/send-is-detached-thresh and Open MPI's TCP eager limit,
  // 64 KiB): the send to the parent overlaps the children's receives, and a
  // chunk step takes the children's chunks on the busiest link, not all
  // three transfers one after another.
  double on_link = chunk <= kEagerBytes ? children : busiest;
  // On a dragonfly every child sends its chunk to its parent at once (and
  // back down): where those flows share a link (64 ranks: ranks 32-63 of
  // group 1 all have parents 15-31 in group 0, 32 flows on the one blue
  // link), a chunk step takes as many chunk times as the busiest link's
  // flows. Simulated, 64 ranks of 16 MiB: 85,290 us, 12,489 counted without.
  if (where.has_dragonfly() && where.nodes() > 1) {
    // Counted on the way up (the down phase's routes run the other way).
    const StepLoad up = step_load(where, p, [](int r) { return r == 0 ? -1 : (r - 1) / 2; });
    on_link = std::max(on_link, static_cast<double>(up.flows));
  }
  // The critical path: k chunk cycles of the busiest rank, plus d - 1 single
  // hops filling the pipeline (each phase). Counting busiest transfers on the
  // fill steps too over-predicted 1 MiB (4 chunks) by 18-21 % on 8 and 16
  // simulated fat-tree ranks while 16 MiB (64 chunks) was 12-14 % short.
  const double messages = k * busiest + (d - 1), link_chunks = k * on_link + (d - 1);
  // Up then down: each phase's busiest direction idles in the other phase
  // (a shaper's bucket refills then; burst_saving). The d - 1 fill hops carry
  // one chunk each over links that idled through the other phase too: with a
  // bucket of a chunk or more they pass at the underlying speed. Counted at
  // the rate, the lab fit was 15-18 % short at 16 MiB on every placement and
  // 37-46 % over at 64 KiB on 4 ranks (a 64 KiB phase is 2 chunks at rank 0
  // and 1 of fill); without them 4-9 % and 17-24 %.
  const double phase_bytes = k * on_link * chunk;
  const double fill_bytes =
      where.nodes() > 1 && where.link_burst_bytes >= chunk ? 0.0 : (link_chunks - k * on_link) * chunk;
  add_link(t, where, 2 * messages, 2 * (phase_bytes - burst_saving(where, phase_bytes) + fill_bytes));
  if (where.nodes() > 1)
    t[kHop] += 2 * messages * step_load(where, p, [](int r) { return r == 0 ? -1 : (r - 1) / 2; }).links;
  t[kGamma] += steps * children * chunk;
}

/// Everyone sends to rank 0, which adds in rank order and sends back, chunk by
/// chunk: 2(p-1) blocking transfers per chunk at rank 0, of which those with
/// the other ranks of rank 0's node go through memory, not the link. Rank 0
/// receives all of a chunk's messages before it sends any (blocking, in rank
/// order), so a chunk is two phases of `remote` chunks each on rank 0's node
/// link, one a direction: with a shaper's bucket each phase counts less
/// (burst_saving); without one (a wire, the simulator) both count in full.
void central_terms(Terms& t, const Placement& where, double s) {
  const double p = where.ranks, k = std::max(1.0, std::ceil(s / kChunkBytes));
  const double local = where.nodes() > 1 ? std::min(where.ranks_per_node, where.ranks) - 1 : p - 1;
  const double remote = p - 1 - local;
  const double phase_bytes = remote * s / k;
  t[kAlphaInter] += 2 * remote * k;
  t[kBetaInter] += 2 * k * (phase_bytes - (remote > 0 ? burst_saving(where, phase_bytes) : 0.0));
  if (remote > 0)
    t[kHop] += 2 * remote * k * step_load(where, where.ranks, [](int r) { return r == 0 ? -1 : 0; }).links;
  t[kAlphaIntra] += 2 * local * k;
  t[kBetaIntra] += kIntraCopies * 2 * local * s;
  t[kGamma] += (p - 1) * s;
}

/// One node's shared window: copy in, sum a 1/q slice of every slot, copy out
/// (about 3 S of memory traffic a rank), 3 barriers of log2 q steps.
void shm_terms(Terms& t, int q, double s) {
  t[kAlphaIntra] += 3.0 * std::max(1, floor_log2(q) + (q > (1 << floor_log2(q)) ? 1 : 0));
  t[kBetaIntra] += 3 * s;
  t[kGamma] += s * (q - 1) / q;
}

}  // namespace

MpiAllreduce mpi_algorithm(int ranks, double bytes) {
  using M = MpiAllreduce;
  const auto b = bytes;
  // Open MPI 4.1 coll/tuned ompi_coll_tuned_allreduce_intra_dec_fixed, a
  // commutative operation (SimGrid 3.32's smpi_openmpi_selector.cpp copies
  // it): segmented ring counted as a ring, "nonoverlapping" as reduce then
  // broadcast.
  if (ranks < 4) {
    if (b < 8) return M::kRing;
    if (b < 4096) return M::kRecursiveDoubling;
    if (b < 8192) return M::kRing;
    if (b < 16384) return M::kRecursiveDoubling;
    return b < 262144 ? M::kRing : M::kRabenseifner;
  }
  if (ranks < 8) return b < 16 ? M::kRing : b < 8192 ? M::kRecursiveDoubling : M::kRabenseifner;
  if (ranks < 16) return b < 8192 ? M::kRecursiveDoubling : M::kRabenseifner;
  if (ranks < 32) return b < 64 ? M::kRing : b < 4096 ? M::kRecursiveDoubling : M::kRabenseifner;
  if (ranks < 64) return b < 128 ? M::kRing : M::kRabenseifner;
  if (ranks < 128) return b < 262144 ? M::kRecursiveDoubling : M::kRabenseifner;
  if (ranks < 256) return b < 131072 ? M::kReduceBroadcast : b < 262144 ? M::kRecursiveDoubling : M::kRabenseifner;
  if (ranks < 512) return b < 4096 ? M::kReduceBroadcast : M::kRabenseifner;
  if (ranks < 2048) return b < 2048 ? M::kReduceBroadcast : b < 16384 ? M::kRecursiveDoubling : M::kRabenseifner;
  if (ranks < 4096)
    return b < 2048 ? M::kReduceBroadcast : b < 4096 ? M::kRing : b < 16384 ? M::kRecursiveDoubling : M::kRabenseifner;
  return b < 2048 ? M::kReduceBroadcast : b < 16384 ? M::kRing : b < 32768 ? M::kRecursiveDoubling : M::kRabenseifner;
}

const char* modelled_name(AllreduceAlgo algo) {
  for (const auto& [a, name] : kModelled)
    if (a == algo) return name;
  return algo == AllreduceAlgo::kAuto ? "auto" : algo == AllreduceAlgo::kNccl ? "nccl" : "unknown";
}

std::vector<AllreduceAlgo> modelled_algos() {
  std::vector<AllreduceAlgo> out;
  for (const auto& entry : kModelled) out.push_back(entry.first);
  return out;
}

AllreduceAlgo parse_modelled(const std::string& name) {
  for (const auto& [a, n] : kModelled)
    if (name == n) return a;
  HPCNN_THROW("cost model: unknown algorithm '", name, "'");
}

const char* cost_term_name(int term) {
  static const char* const kNames[kCostTerms] = {"alpha_inter", "beta_inter", "alpha_intra",
                                                 "beta_intra",  "gamma",      "alpha_hop"};
  return term >= 0 && term < kCostTerms ? kNames[term] : "unknown";
}

Terms cost_terms(AllreduceAlgo algo, const Placement& where, double bytes) {
  HPCNN_CHECK(where.ranks >= 1 && where.ranks_per_node >= 1, "cost model: bad placement of ", where.ranks,
              " ranks on nodes of ", where.ranks_per_node);
  Terms t{};
  if (where.ranks == 1 || bytes <= 0) return t;
  switch (algo) {
    case AllreduceAlgo::kRing: ring_terms(t, where, bytes); break;
    // The library's own choice, per size and rank count as Open MPI's fixed
    // rules pick it (mpi_algorithm). Modelled as Rabenseifner everywhere, the
    // fit was 22.1 % rms off on the simulated fat-tree (65 % at 4 KiB on 3
    // ranks, where the library runs a ring), and auto picked mpi's recursive
    // doubling for 64 KiB on 64 torus ranks: 60.1 us against rhd's 37.2
    // (results/sim/auto-grid-32-128).
    case AllreduceAlgo::kMpi:
      switch (mpi_algorithm(where.ranks, bytes)) {
        case MpiAllreduce::kRecursiveDoubling: rdb_terms(t, where, bytes); break;
        case MpiAllreduce::kRing: {
          ring_terms(t, where, bytes);
          // Each step sends to the next rank while it receives from the one
          // before: with a half-duplex library the two take turns, the
          // ring's bytes between nodes count twice (t held nothing before).
          if (where.nodes() > 1) t[kBetaInter] *= library_directions(where, bytes / where.ranks);
          // The logical ring (SimGrid's allreduce__lr) reduces the count %
          // p floats left over by a reduce and a broadcast of a few bytes,
          // sent eagerly: the reduce is linear below 8 ranks (the root's
          // receives overlap: one message), else binomial (floor(log2 p)
          // messages one after another), the binomial broadcast's longest
          // chain is floor(log2 p). Each crosses the links between the root
          // and the farthest rank. Counted as 2 ceil(log2 p) messages
          // without their links, the fit was 27.0 % short at 3 ranks, 4 KiB
          // (26.8 us simulated, the ring part 17.4; results/sim/mpi-selector).
          const auto floats = static_cast<int64_t>(bytes / sizeof(float));
          if (floats % where.ranks != 0) {
            const int chain = floor_log2(where.ranks), messages = (where.ranks < 8 ? 1 : chain) + chain;
            add_link(t, where, messages, 0);
            if (where.nodes() > 1)
              t[kHop] += messages * step_load(where, where.ranks, [](int r) { return r == 0 ? -1 : 0; }).links;
          }
          break;
        }
        case MpiAllreduce::kRabenseifner: rab_terms(t, where, bytes); break;
        // Not a candidate of auto (choose_by_model); a binomial reduce and
        // broadcast of the whole buffer, for the fit's sake.
        case MpiAllreduce::kReduceBroadcast: {
          const double steps = 2.0 * std::ceil(std::log2(where.ranks));
          add_link(t, where, steps, steps * bytes);
          t[kGamma] += bytes * std::ceil(std::log2(where.ranks));
          break;
        }
      }
      break;
    case AllreduceAlgo::kRhd: rhd_terms(t, where, bytes); break;
    case AllreduceAlgo::kTree: tree_terms(t, where, bytes); break;
    case AllreduceAlgo::kCentral: central_terms(t, where, bytes); break;
    case AllreduceAlgo::kShm:
      HPCNN_CHECK(where.nodes() == 1, "cost model: shm runs on one node, not ", where.nodes());
      shm_terms(t, where.ranks, bytes);
      break;
    case AllreduceAlgo::kHier: {
      // shm inside each node, the leaders' ring (>= 256 KiB) or rhd between nodes.
      const int q = std::min(where.ranks, where.ranks_per_node);
      if (q > 1) shm_terms(t, q, bytes);
      const Placement leaders{where.nodes(), 1, true};
      if (leaders.ranks > 1) (bytes >= kChunkBytes ? ring_terms : rhd_terms)(t, leaders, bytes);
      break;
    }
    case AllreduceAlgo::kNccl:
    case AllreduceAlgo::kAuto: HPCNN_THROW("cost model: no model for ", modelled_name(algo));
  }
  return t;
}

LinkLoad step_link_load(const Placement& where, const std::vector<int>& partner) {
  const StepLoad load =
      step_load(where, static_cast<int>(partner.size()), [&](int r) { return partner[static_cast<size_t>(r)]; });
  return {load.flows, load.links};
}

double predict_seconds(const CostParams& params, AllreduceAlgo algo, const Placement& where, double bytes) {
  const Terms t = cost_terms(algo, where, bytes);
  double s = 0;
  for (int i = 0; i < kCostTerms; ++i) s += params[i] * t[static_cast<size_t>(i)];
  return s;
}

namespace {

/// "100Gbps" -> bytes a second; "2us" -> seconds. Returns false on junk.
bool parse_quantity(const std::string& text, bool rate, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v > 0) || !std::isfinite(v)) return false;
  const std::string unit(end);
  static const std::map<std::string, double> kRates{{"Gbps", 1e9 / 8}, {"Mbps", 1e6 / 8}, {"Kbps", 1e3 / 8},
                                                    {"GBps", 1e9},     {"MBps", 1e6},     {"Bps", 1.0}};
  static const std::map<std::string, double> kTimes{{"s", 1.0}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}};
  const auto& units = rate ? kRates : kTimes;
  const auto it = units.find(unit);
  if (it == units.end()) return false;
  out = v * it->second;
  return true;
}

}  // namespace

LinkFigures parse_link_figures(const std::string& text) {
  LinkFigures f;
  const size_t comma = text.find(','), second = comma == std::string::npos ? comma : text.find(',', comma + 1);
  const std::string rate = text.substr(0, comma);
  const std::string latency = comma == std::string::npos ? "" : text.substr(comma + 1, second - comma - 1);
  const std::string per_switch = second == std::string::npos ? "" : text.substr(second + 1);
  bool ok = parse_quantity(rate, true, f.bandwidth_bytes_s) &&
            (latency.empty() || parse_quantity(latency, false, f.latency_s));
  if (ok && !per_switch.empty()) {
    char* end = nullptr;
    const long n = std::strtol(per_switch.c_str(), &end, 10);
    ok = *end == '\0' && n >= 0 && n <= 1 << 20;
    f.nodes_per_switch = static_cast<int>(n);
  }
  if (!ok)
    throw UsageError(cat("link figures '", text, "': expected RATE[,LATENCY[,NODES_PER_SWITCH]], e.g. 100Gbps,2us ",
                         "(rates in Gbps, Mbps, GBps or MBps; latency in s, ms, us or ns; nodes sharing a ",
                         "switch's link to another switch, 0 for full bisection)"));
  return f;
}

CostModel CostModel::from_links(const LinkFigures& links, const std::string& source) {
  CostModel m;
  m.source = source;
  CostParams p;
  p.values = {links.latency_s,
              1.0 / links.bandwidth_bytes_s,
              links.memory_latency_s,
              1.0 / links.memory_bandwidth_bytes_s,
              1.0 / links.reduce_bytes_s,
              0.0};
  for (AllreduceAlgo a : modelled_algos()) {
    if (a != AllreduceAlgo::kMpi) m.params[a] = p;
  }
  m.nodes_per_switch = links.nodes_per_switch;
  return m;
}

CostModel CostModel::from_json(const nlohmann::json& j) {
  CostModel m;
  try {
    HPCNN_CHECK(j.value("format", "") == "hpcnn-cost-model", "not an hpcnn cost model (format '", j.value("format", ""),
                "')");
    m.source = j.value("source", "");
    m.nodes_per_switch = j.value("nodes_per_switch", 0);
    m.link_burst_bytes = j.value("link_burst_bytes", 0.0);
    HPCNN_CHECK(m.link_burst_bytes >= 0, "link_burst_bytes: bytes >= 0, not ", m.link_burst_bytes);
    if (j.contains("library_half_duplex")) {
      const auto& half = j.at("library_half_duplex");
      HPCNN_CHECK(half.is_boolean(), "library_half_duplex: true or false, not ", half.dump());
      m.library_half_duplex = half.get<bool>();
    }
    if (j.contains("fattree_nodes_per_leaf")) {
      const auto& leaf = j.at("fattree_nodes_per_leaf");
      HPCNN_CHECK(leaf.is_number_integer() || leaf == "sqrt", "fattree_nodes_per_leaf: a number or \"sqrt\", not ",
                  leaf.dump());
      m.fattree_leaf = leaf.is_number_integer() ? leaf.get<int>() : -1;
    }
    if (j.contains("torus_dims")) {
      const auto& dims = j.at("torus_dims");
      if (dims == "cbrt") {
        m.torus_cbrt = true;
      } else {
        HPCNN_CHECK(dims.is_array() && dims.size() == 3, "torus_dims: [x, y, z] or \"cbrt\", not ", dims.dump());
        for (size_t i = 0; i < 3; ++i) m.torus_dims[i] = dims.at(i).get<int>();
      }
    }
    if (j.contains("dragonfly")) {
      const auto& d = j.at("dragonfly");
      if (d == "platform") {
        m.dragonfly_platform = true;
      } else {
        HPCNN_CHECK(d.is_array() && d.size() == 4, "dragonfly: [groups, chassis, routers, nodes] or \"platform\", not ",
                    d.dump());
        for (size_t i = 0; i < 4; ++i) {
          m.dragonfly[i] = d.at(i).get<int>();
          HPCNN_CHECK(m.dragonfly[i] >= 1, "dragonfly: every count >= 1, not ", d.dump());
        }
      }
    }
    for (const auto& [name, entry] : j.at("algorithms").items()) {
      CostParams p;
      // alpha_hop is newer than the format: 0 where a model lacks it.
      for (int t = 0; t < kCostTerms; ++t)
        p.values[static_cast<size_t>(t)] =
            t == kHop ? entry.value(cost_term_name(t), 0.0) : entry.at(cost_term_name(t)).get<double>();
      m.params[parse_modelled(name)] = p;
    }
  } catch (const nlohmann::json::exception& e) {
    HPCNN_THROW("cost model: ", e.what());
  }
  return m;
}

nlohmann::json CostModel::to_json() const {
  nlohmann::json algos = nlohmann::json::object();
  for (const auto& [algo, p] : params) {
    nlohmann::json entry;
    for (int t = 0; t < kCostTerms; ++t) entry[cost_term_name(t)] = p[t];
    algos[modelled_name(algo)] = entry;
  }
  nlohmann::json j{{"format", "hpcnn-cost-model"}, {"version", 1}, {"source", source}, {"algorithms", algos}};
  if (nodes_per_switch > 1) j["nodes_per_switch"] = nodes_per_switch;
  if (link_burst_bytes > 0) j["link_burst_bytes"] = link_burst_bytes;
  if (library_half_duplex) j["library_half_duplex"] = true;
  if (fattree_leaf > 0) j["fattree_nodes_per_leaf"] = fattree_leaf;
  if (fattree_leaf < 0) j["fattree_nodes_per_leaf"] = "sqrt";
  if (torus_cbrt) j["torus_dims"] = "cbrt";
  if (!torus_cbrt && torus_dims[0] > 0) j["torus_dims"] = torus_dims;
  if (dragonfly_platform) j["dragonfly"] = "platform";
  if (!dragonfly_platform && dragonfly[0] > 0) j["dragonfly"] = dragonfly;
  return j;
}

std::array<int, 4> CostModel::dragonfly_for(int nodes) const {
  if (!dragonfly_platform) return dragonfly;
  // tools/sim/platform.py's layout(): 4 nodes a router, 2 chassis a group, 4
  // routers a chassis, as many groups as needed; SimGrid 3.32 joins groups
  // through chassis 0's routers only (at most as many groups as routers a
  // chassis), so while the groups outnumber them, one more router a chassis.
  constexpr int kPerRouter = 4, kChassis = 2;
  const int n = std::max(1, nodes);
  int routers = 4, groups = (n + kPerRouter * routers * kChassis - 1) / (kPerRouter * routers * kChassis);
  while (groups > routers) {
    ++routers;
    groups = (n + kPerRouter * routers * kChassis - 1) / (kPerRouter * routers * kChassis);
  }
  return {groups, kChassis, routers, kPerRouter};
}

std::array<int, 3> CostModel::torus_for(int nodes) const {
  if (!torus_cbrt) return torus_dims;
  int x = std::max(1, static_cast<int>(std::lround(std::cbrt(static_cast<double>(nodes)))));
  while (x > 1 && x * x * x > nodes * 1.5) --x;
  const int y = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(nodes) / x))));
  const int z = std::max(1, (nodes + x * y - 1) / (x * y));
  return {x, y, z};
}

int CostModel::leaf_for(int nodes) const {
  if (fattree_leaf >= 0) return fattree_leaf;
  return std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(nodes)))));
}

AutoChoice choose_by_model(const CostModel& model, const Placement& placement, double bytes) {
  Placement where = placement;
  if (where.nodes_per_switch == 0) where.nodes_per_switch = model.nodes_per_switch;
  if (where.nodes_per_leaf == 0) where.nodes_per_leaf = model.leaf_for(where.nodes());
  if (!where.has_torus()) where.torus_dims = model.torus_for(where.nodes());
  if (!where.has_dragonfly()) where.dragonfly = model.dragonfly_for(where.nodes());
  if (where.link_burst_bytes == 0) where.link_burst_bytes = model.link_burst_bytes;
  if (!where.library_half_duplex) where.library_half_duplex = model.library_half_duplex;
  AutoChoice choice;
  choice.predicted_s = std::numeric_limits<double>::infinity();
  const bool one_node = where.nodes() == 1, multi_rank_nodes = where.ranks_per_node > 1 && where.ranks > 1;
  for (AllreduceAlgo a : modelled_algos()) {
    const auto it = model.params.find(a);
    if (it == model.params.end()) continue;
    if (a == AllreduceAlgo::kShm && !(one_node && multi_rank_nodes)) continue;
    if (a == AllreduceAlgo::kHier && (one_node || !multi_rank_nodes || !where.regular)) continue;
    // Reduce then broadcast: its time depends on the library's reduce and
    // broadcast choices, which the model does not follow (128 fat-tree ranks,
    // 64 KiB: 737.8 us, rhd 64.5 us; results/sim/auto-grid-32-128).
    if (a == AllreduceAlgo::kMpi && mpi_algorithm(where.ranks, bytes) == MpiAllreduce::kReduceBroadcast) continue;
    const double s = predict_seconds(it->second, a, where, bytes);
    choice.candidates.emplace_back(a, s);
    if (s < choice.predicted_s) {
      choice.predicted_s = s;
      choice.algo = a;
    }
  }
  HPCNN_CHECK(!choice.candidates.empty(), "cost model (", model.source, ") has no algorithm that runs on ", where.ranks,
              " ranks");
  return choice;
}

AutoChoice AutoChoiceCache::choose(const Placement& where, double bytes) {
  const Key key{
      where.ranks,      where.ranks_per_node, where.regular,          where.nodes_per_switch,    where.nodes_per_leaf,
      where.torus_dims, where.dragonfly,      where.link_burst_bytes, where.library_half_duplex, bytes};
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = choices_.find(key);
    if (it != choices_.end()) return it->second;
  }
  // Computed outside the lock (milliseconds with a topology); two threads
  // asking at once both compute it, the same answer.
  AutoChoice choice = choose_by_model(model_, where, bytes);
  const std::lock_guard<std::mutex> lock(mutex_);
  if (choices_.size() < kMaxEntries) choices_.emplace(key, choice);
  return choice;
}

size_t AutoChoiceCache::size() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return choices_.size();
}

AutoChoiceCache& process_choice_cache() {
  static AutoChoiceCache cache(process_cost_model());
  return cache;
}

const CostModel& process_cost_model() {
  static const CostModel kModel = [] {
    if (const char* file = std::getenv("HPCNN_COST_MODEL"); file != nullptr && *file != '\0') {
      std::ifstream in(file);
      HPCNN_CHECK(in.good(), "HPCNN_COST_MODEL: cannot read ", file);
      nlohmann::json j;
      try {
        in >> j;
      } catch (const nlohmann::json::exception& e) {
        HPCNN_THROW("HPCNN_COST_MODEL ", file, ": ", e.what());
      }
      CostModel m = CostModel::from_json(j);
      m.source = cat("fit ", file, m.source.empty() ? "" : cat(" (", m.source, ")"));
      return m;
    }
    if (const char* link = std::getenv("HPCNN_LINK"); link != nullptr && *link != '\0')
      return CostModel::from_links(parse_link_figures(link), cat("link figures HPCNN_LINK=", link));
    return CostModel::from_links(LinkFigures{}, "default link figures (10 Gbit/s, 20 us)");
  }();
  return kModel;
}

Placement placement_of(const Communicator& comm) {
  const int nodes = std::max(1, comm.num_nodes());
  return {comm.size(), (comm.size() + nodes - 1) / nodes, comm.regular_nodes()};
}

nlohmann::json auto_choice_json(const Communicator& comm, int64_t count) {
  const Placement where = placement_of(comm);
  const double bytes = static_cast<double>(count) * sizeof(float);
  const AutoChoice c = process_choice_cache().choose(where, bytes);
  nlohmann::json candidates = nlohmann::json::object();
  for (const auto& [a, s] : c.candidates) candidates[modelled_name(a)] = s * 1e6;
  return {{"algo", modelled_name(c.algo)},
          {"predicted_us", c.predicted_s * 1e6},
          {"bytes", count * static_cast<int64_t>(sizeof(float))},
          {"ranks", where.ranks},
          {"ranks_per_node", where.ranks_per_node},
          {"model", process_cost_model().source},
          {"candidates_us", candidates}};
}

namespace {

/// Solves the normal equations of the columns `use` (weighted rows already
/// applied) by Gaussian elimination with partial pivoting on unit-scaled
/// columns. False when singular (a column a combination of the others).
bool solve_subset(const std::vector<Terms>& rows, const std::vector<double>& y, const std::vector<int>& use,
                  const Terms& scale, std::vector<double>& x) {
  const size_t k = use.size();
  std::vector<std::vector<double>> a(k, std::vector<double>(k + 1, 0.0));
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t i = 0; i < k; ++i) {
      const double xi = rows[r][static_cast<size_t>(use[i])] / scale[static_cast<size_t>(use[i])];
      for (size_t j = 0; j < k; ++j)
        a[i][j] += xi * rows[r][static_cast<size_t>(use[j])] / scale[static_cast<size_t>(use[j])];
      a[i][k] += xi * y[r];
    }
  }
  for (size_t c = 0; c < k; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    // Unit-norm columns: a pivot this small means the column is (nearly) a
    // combination of those before it.
    if (std::fabs(a[pivot][c]) < 1e-9) return false;
    std::swap(a[c], a[pivot]);
    for (size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (size_t j = c; j <= k; ++j) a[r][j] -= f * a[c][j];
    }
  }
  x.assign(k, 0.0);
  for (size_t i = 0; i < k; ++i) x[i] = a[i][k] / a[i][i] / scale[static_cast<size_t>(use[i])];
  return true;
}

}  // namespace

CostFit fit_cost(AllreduceAlgo algo, const std::vector<CostSample>& samples) {
  // Relative error: each row divided by its measured time, so a 4 KiB
  // all-reduce of 20 us counts as much as one of 64 MiB taking 100 ms.
  std::vector<Terms> rows;
  std::vector<double> y;
  for (const CostSample& s : samples) {
    if (s.algo != algo || !(s.seconds > 0)) continue;
    Terms t = cost_terms(algo, s.where, s.bytes);
    for (double& v : t) v /= s.seconds;
    rows.push_back(t);
    y.push_back(1.0);
  }
  CostFit fit;
  fit.samples = static_cast<int>(rows.size());
  Terms scale{};
  std::vector<int> exercised;
  for (int i = 0; i < kCostTerms; ++i) {
    double sq = 0;
    for (const Terms& r : rows) sq += r[static_cast<size_t>(i)] * r[static_cast<size_t>(i)];
    scale[static_cast<size_t>(i)] = std::sqrt(sq);
    fit.exercised[static_cast<size_t>(i)] = sq > 0;
    if (sq > 0) exercised.push_back(i);
  }
  // Without fat-tree leaves every message between nodes crosses 2 links:
  // the hop term is alpha_inter twice over, folded into it (not fitted).
  if (fit.exercised[kHop] && fit.exercised[kAlphaInter]) {
    bool proportional = true;
    double ratio = 0;
    for (const Terms& r : rows) {
      if (r[kAlphaInter] <= 0) {
        proportional = proportional && r[kHop] == 0;
        continue;
      }
      if (ratio == 0) ratio = r[kHop] / r[kAlphaInter];
      proportional = proportional && std::fabs(r[kHop] - ratio * r[kAlphaInter]) <= 1e-9 * r[kHop];
    }
    if (proportional) {
      fit.collinear[kHop] = true;
      exercised.erase(std::find(exercised.begin(), exercised.end(), static_cast<int>(kHop)));
    }
  }
  HPCNN_CHECK(!exercised.empty() && fit.samples >= static_cast<int>(exercised.size()), "cost model fit of ",
              modelled_name(algo), ": ", fit.samples, " measurement(s) for ", exercised.size(), " parameters");
  // Non-negative least squares by trying every subset of the exercised terms
  // (at most 2^5): the best solution with no negative parameter wins.
  double best = std::numeric_limits<double>::infinity();
  std::vector<int> best_use;
  std::vector<double> best_x;
  const size_t n = exercised.size();
  for (unsigned mask = 1; mask < (1u << n); ++mask) {
    std::vector<int> use;
    for (size_t i = 0; i < n; ++i)
      if (mask & (1u << i)) use.push_back(exercised[i]);
    std::vector<double> x;
    if (!solve_subset(rows, y, use, scale, x)) continue;
    if (std::any_of(x.begin(), x.end(), [](double v) { return v < 0; })) continue;
    double sse = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      double pred = 0;
      for (size_t i = 0; i < use.size(); ++i) pred += x[i] * rows[r][static_cast<size_t>(use[i])];
      sse += (pred - y[r]) * (pred - y[r]);
    }
    // Ties (a collinear term adds nothing): the smaller subset.
    if (sse < best * (1 - 1e-12) || (sse <= best * (1 + 1e-12) && use.size() < best_use.size())) {
      best = sse;
      best_use = use;
      best_x = x;
    }
  }
  HPCNN_CHECK(!best_use.empty(), "cost model fit of ", modelled_name(algo), ": no non-negative solution");
  for (size_t i = 0; i < best_use.size(); ++i) fit.params.values[static_cast<size_t>(best_use[i])] = best_x[i];
  // A term is collinear when the full set including it is singular but the
  // set without it is not, i.e. it cannot be told apart from the others.
  for (int t : exercised) {
    if (t == kHop && fit.collinear[kHop]) continue;
    std::vector<int> all = exercised, without;
    for (int u : exercised)
      if (u != t) without.push_back(u);
    std::vector<double> x;
    fit.collinear[static_cast<size_t>(t)] =
        !solve_subset(rows, y, all, scale, x) && (without.empty() || solve_subset(rows, y, without, scale, x));
  }
  double sq = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    double pred = 0;
    for (int i = 0; i < kCostTerms; ++i) pred += fit.params[i] * rows[r][static_cast<size_t>(i)];
    const double rel = pred - 1.0;  // rows are divided by the measured time
    sq += rel * rel;
    fit.max_relative = std::max(fit.max_relative, std::fabs(rel));
  }
  fit.rms_relative = std::sqrt(sq / static_cast<double>(rows.size()));
  return fit;
}

}  // namespace hpcnn::comm
