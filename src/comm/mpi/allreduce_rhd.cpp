// Recursive halving-doubling (Rabenseifner) for any rank count.
//
// With p' the largest power of two <= p and q = p - p': the first 2q ranks
// pair up (even -> odd) so p' ranks remain. Those do a recursive-halving
// reduce-scatter (log2 p' exchanges of halving size; afterwards each holds
// one fully reduced block) and a recursive-doubling all-gather (the reverse).
// Finally the odd ranks of the first pairs hand the result back to their
// partners. Halving and doubling exchanges travel in windowed chunks
// (detail::exchange), so a halving step adds each chunk as it lands. Every block is reduced once, then copied:
// identical everywhere.
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/mpi/common.hpp"
#include "comm/reduce_scatter.hpp"

namespace hpcnn::comm {

void allreduce_rhd(Communicator& comm, float* data, int64_t count) {
  const int p = comm.size(), r = comm.rank();
  if (p == 1 || count == 0) return;
  const MPI_Comm c = comm.comm();
  int pow2 = 1;
  while (pow2 * 2 <= p) pow2 *= 2;
  const int extra = p - pow2;
  // Fold/unfold involve ranks that take no part in the exchanges, so their
  // tags cannot meet the exchanges' chunk-index tags.
  constexpr int kFold = 11, kUnfold = 14;

  // 1. Fold the first 2 * extra ranks pairwise.
  int vrank;  // rank among the pow2 survivors, -1 for ranks that sit out
  if (r < 2 * extra) {
    if (r % 2 == 0) {
      detail::send(data, count, r + 1, kFold, c);
      vrank = -1;
    } else {
      float* incoming = comm.scratch(count);
      detail::recv(incoming, count, r - 1, kFold, c);
      detail::add_into(data, incoming, count);
      vrank = r / 2;
    }
  } else {
    vrank = r - extra;
  }
  auto real_rank = [extra](int v) { return v < extra ? 2 * v + 1 : v + extra; };

  if (vrank >= 0) {
    // 2. Recursive halving: keep the half on our side, send the other half.
    //    The ranges we split are remembered for the doubling phase.
    std::vector<std::pair<int64_t, int64_t>> parents;
    int64_t lo = 0, hi = count;
    float* incoming = comm.scratch((count + 1) / 2);
    for (int dist = pow2 / 2; dist >= 1; dist /= 2) {
      const int partner = real_rank(vrank ^ dist);
      const int64_t mid = lo + (hi - lo) / 2;
      const bool keep_low = (vrank & dist) == 0;
      const int64_t keep_lo = keep_low ? lo : mid, keep_hi = keep_low ? mid : hi;
      const int64_t send_lo = keep_low ? mid : lo, send_hi = keep_low ? hi : mid;
      detail::exchange(data + send_lo, send_hi - send_lo, partner, incoming, keep_hi - keep_lo, partner, c,
                       detail::pacing(comm, partner, true),
                       [&](int64_t off, int64_t n) { detail::add_into(data + keep_lo + off, incoming + off, n); });
      parents.emplace_back(lo, hi);
      lo = keep_lo;
      hi = keep_hi;
    }
    // 3. Recursive doubling: swap finished blocks with the same partners in
    //    reverse order; our block and the partner's make up the parent range.
    for (int dist = 1; dist < pow2; dist *= 2) {
      const int partner = real_rank(vrank ^ dist);
      const auto [plo, phi] = parents.back();
      parents.pop_back();
      const int64_t other_lo = lo == plo ? hi : plo, other_hi = lo == plo ? phi : lo;
      detail::exchange(data + lo, hi - lo, partner, data + other_lo, other_hi - other_lo, partner, c,
                       detail::pacing(comm, partner, true), {});
      lo = plo;
      hi = phi;
    }
  }
  // 4. Hand the result back to the ranks that sat out.
  if (r < 2 * extra) {
    if (r % 2 == 1) {
      detail::send(data, count, r - 1, kUnfold, c);
    } else {
      detail::recv(data, count, r + 1, kUnfold, c);
    }
  }
}

// ---- the halves (comm/reduce_scatter.hpp) ---------------------------------
//
// The same fold, butterfly and unfold as allreduce_rhd, cut after the
// halving. Two changes that move no sum: a halving step splits its range in
// proportion to the real ranks each side stands for (a survivor that folded a
// partner in counts twice), and such a survivor then hands the first half of
// its part to that partner, so each of the p ranks owns about count / p.

namespace {

/// The survivors' layout for p ranks: p' = 2^floor(log2 p), `extra` folded pairs.
struct RhdShape {
  int pow2 = 1, extra = 0;
  explicit RhdShape(int p) {
    while (pow2 * 2 <= p) pow2 *= 2;
    extra = p - pow2;
  }
  /// Rank among the survivors, -1 for ranks that sit out.
  int vrank(int r) const { return r < 2 * extra ? (r % 2 == 1 ? r / 2 : -1) : r - extra; }
  int real_rank(int v) const { return v < extra ? 2 * v + 1 : v + extra; }
  /// Real ranks survivor v stands for.
  int weight(int v) const { return v < extra ? 2 : 1; }
};

/// Survivor v's recursive halving of [0, count): the range it holds before
/// each step (for the doubling, in reverse) and the one it ends with. Both
/// partners of a step see the same group and so cut at the same point.
struct Halving {
  std::vector<Range> parents;
  Range held;
};
Halving halving(const RhdShape& shape, int v, int64_t count) {
  Halving h;
  int64_t lo = 0, hi = count;
  for (int dist = shape.pow2 / 2; dist >= 1; dist /= 2) {
    // The group sharing [lo, hi): survivors that agree with v on the bits above dist.
    const int above = ~(2 * dist - 1);
    int64_t w_low = 0, w_high = 0;
    for (int u = 0; u < shape.pow2; ++u) {
      if ((u & above) != (v & above)) continue;
      ((u & dist) != 0 ? w_high : w_low) += shape.weight(u);
    }
    const int64_t mid = lo + (hi - lo) * w_low / (w_low + w_high);
    h.parents.emplace_back(lo, hi);
    if ((v & dist) == 0) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  h.held = {lo, hi};
  return h;
}

/// The cut between a folded pair's halves of the survivor's part.
int64_t pair_cut(const Range& held) { return held.first + (held.second - held.first) / 2; }

constexpr int kFold = 11, kHandOff = 12, kHandBack = 13, kUnfold = 14;

}  // namespace

Range rhd_owned_range(int rank, int size, int64_t count) {
  if (size == 1) return {0, count};
  const RhdShape shape(size);
  if (rank >= 2 * shape.extra) return halving(shape, rank - shape.extra, count).held;
  const Range held = halving(shape, rank / 2, count).held;
  const int64_t cut = pair_cut(held);
  return rank % 2 == 0 ? Range{held.first, cut} : Range{cut, held.second};
}

Range reduce_scatter_rhd(Communicator& comm, float* data, int64_t count) {
  const int p = comm.size(), r = comm.rank();
  if (p == 1 || count == 0) return rhd_owned_range(r, p, count);
  const MPI_Comm c = comm.comm();
  const RhdShape shape(p);
  const bool folded = r < 2 * shape.extra;
  // 1. Fold the first 2 * extra ranks pairwise (as allreduce_rhd).
  if (folded && r % 2 == 0) {
    detail::send(data, count, r + 1, kFold, c);
  } else if (folded) {
    float* incoming = comm.scratch(count);
    detail::recv(incoming, count, r - 1, kFold, c);
    detail::add_into(data, incoming, count);
  }
  const int v = shape.vrank(r);
  if (v >= 0) {
    // 2. Recursive halving with weighted cuts.
    const Halving h = halving(shape, v, count);
    float* incoming = comm.scratch(count);
    int step = 0;
    for (int dist = shape.pow2 / 2; dist >= 1; dist /= 2, ++step) {
      const int partner = shape.real_rank(v ^ dist);
      const auto [lo, hi] = h.parents[static_cast<size_t>(step)];
      const Range keep =
          static_cast<size_t>(step) + 1 < h.parents.size() ? h.parents[static_cast<size_t>(step) + 1] : h.held;
      const Range send = (v & dist) == 0 ? Range{keep.second, hi} : Range{lo, keep.first};
      detail::exchange(data + send.first, send.second - send.first, partner, incoming, keep.second - keep.first,
                       partner, c, detail::pacing(comm, partner, true),
                       [&](int64_t off, int64_t n) { detail::add_into(data + keep.first + off, incoming + off, n); });
    }
  }
  // 3. A survivor that folded hands the first half of its part to its partner.
  if (folded) {
    const Range held = halving(shape, r / 2, count).held;
    const int64_t cut = pair_cut(held);
    if (r % 2 == 1) {
      detail::send(data + held.first, cut - held.first, r - 1, kHandOff, c);
    } else {
      detail::recv(data + held.first, cut - held.first, r + 1, kHandOff, c);
    }
  }
  return rhd_owned_range(r, p, count);
}

void all_gather_rhd(Communicator& comm, float* data, int64_t count) {
  const int p = comm.size(), r = comm.rank();
  if (p == 1 || count == 0) return;
  const MPI_Comm c = comm.comm();
  const RhdShape shape(p);
  const bool folded = r < 2 * shape.extra;
  // 1. The partner's half goes back to the survivor.
  if (folded) {
    const Range held = halving(shape, r / 2, count).held;
    const int64_t cut = pair_cut(held);
    if (r % 2 == 0) {
      detail::send(data + held.first, cut - held.first, r + 1, kHandBack, c);
    } else {
      detail::recv(data + held.first, cut - held.first, r - 1, kHandBack, c);
    }
  }
  const int v = shape.vrank(r);
  if (v >= 0) {
    // 2. Recursive doubling: swap finished ranges with the halving's partners in reverse order.
    Halving h = halving(shape, v, count);
    auto [lo, hi] = h.held;
    for (int dist = 1; dist < shape.pow2; dist *= 2) {
      const int partner = shape.real_rank(v ^ dist);
      const auto [plo, phi] = h.parents.back();
      h.parents.pop_back();
      const bool low = (v & dist) == 0;  // we hold the low part of the parent
      const int64_t other_lo = low ? hi : plo, other_hi = low ? phi : lo;
      detail::exchange(data + lo, hi - lo, partner, data + other_lo, other_hi - other_lo, partner, c,
                       detail::pacing(comm, partner, true), {});
      lo = plo;
      hi = phi;
    }
  }
  // 3. Hand the result to the ranks that sat out.
  if (folded) {
    if (r % 2 == 1) {
      detail::send(data, count, r - 1, kUnfold, c);
    } else {
      detail::recv(data, count, r + 1, kUnfold, c);
    }
  }
}

}  // namespace hpcnn::comm
