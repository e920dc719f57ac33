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

}  // namespace hpcnn::comm
