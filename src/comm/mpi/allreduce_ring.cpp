// Ring all-reduce: reduce-scatter then all-gather around the ring, p-1 steps
// each. Every step's segment travels in chunks (detail::exchange: all
// receives posted first, a window of sends in flight), and each chunk is added
// as soon as it lands while later chunks are still on the wire. Segment k ends fully reduced on rank (k - 1) mod p and
// is copied from there, so all ranks hold bitwise the same sum.
//
// The two phases are also the halves a sharded optimizer uses
// (comm/reduce_scatter.hpp), optionally with 16-bit (bf16, fp16) messages.
#include <memory>

#include "comm/allreduce.hpp"
#include "comm/compression.hpp"
#include "comm/mpi/common.hpp"
#include "comm/reduce_scatter.hpp"

namespace hpcnn::comm {

namespace {

/// What a 16-bit step does with what arrives.
enum class Arrival { kCopy, kAdd, kAddRound };

/// One step of a compressed phase: round what leaves once; widen what arrives
/// and add (or copy) it in FP32. The last step of the reduce-scatter also
/// rounds the owner's sum (kAddRound) in the same pass. The conversions are the
/// vectorised loops of comm/compression.hpp, bitwise the scalar ones.
void exchange16(const Codec16& codec, float* data, uint16_t* out16, uint16_t* in16, Range send, Range recv, int right,
                int left, MPI_Comm c, const detail::Pacing& pace, Arrival arrival) {
  codec.encode(data + send.first, out16, send.second - send.first);
  const auto land = arrival == Arrival::kCopy  ? codec.widen
                    : arrival == Arrival::kAdd ? codec.widen_add
                                               : codec.widen_add_round;
  detail::exchange(out16, send.second - send.first, right, in16, recv.second - recv.first, left, c, pace,
                   [&](int64_t off, int64_t n) { land(in16 + off, data + recv.first + off, n); });
}

/// One phase of the ring (reduce-scatter when `reduce`, else all-gather) on
/// p > 1 ranks.
void ring_phase(Communicator& comm, float* data, int64_t count, bool reduce, GradCompression compression) {
  const int p = comm.size(), r = comm.rank();
  const MPI_Comm c = comm.comm();
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  const int64_t max_segment = block_range(count, 0, p).second;
  const detail::Pacing pace = detail::pacing(comm, right);
  const bool packed = compression != GradCompression::kNone;
  float* incoming = packed ? nullptr : comm.scratch(max_segment);
  // 16-bit messages: buffers of one segment each, per call (not thread_local:
  // under SMPI, hpcnn-sim's simulated ranks may share a system thread). Left
  // uninitialised: each step's encoding overwrites what it sends and the
  // receive what it reads; std::vector zero-filled both on every call, 1.3 %
  // of the communication thread's CPU in a bf16 step (perf,
  // results/overlap/bf16/README.md).
  const auto out16 = std::make_unique_for_overwrite<uint16_t[]>(packed ? static_cast<size_t>(max_segment) : 0);
  const auto in16 = std::make_unique_for_overwrite<uint16_t[]>(packed ? static_cast<size_t>(max_segment) : 0);

  // One step: send segment `send_seg` to the right while segment `recv_seg`
  // arrives from the left, chunk by chunk (detail::exchange); in the
  // reduce-scatter each chunk is added as soon as it lands.
  const Codec16* codec = compression == GradCompression::kBf16   ? &bf16_codec()
                         : compression == GradCompression::kFp16 ? &fp16_codec()
                                                                 : nullptr;
  auto exchange = [&](int send_seg, int recv_seg, bool last) {
    const Range send = block_range(count, send_seg, p), recv = block_range(count, recv_seg, p);
    if (codec != nullptr) {
      const Arrival arrival = !reduce ? Arrival::kCopy : last ? Arrival::kAddRound : Arrival::kAdd;
      exchange16(*codec, data, out16.get(), in16.get(), send, recv, right, left, c, pace, arrival);
    } else if (reduce) {
      detail::exchange(data + send.first, send.second - send.first, right, incoming, recv.second - recv.first, left, c,
                       pace,
                       [&](int64_t off, int64_t n) { detail::add_into(data + recv.first + off, incoming + off, n); });
    } else {  // the all-gather receives in place
      detail::exchange(data + send.first, send.second - send.first, right, data + recv.first, recv.second - recv.first,
                       left, c, pace, {});
    }
  };

  if (reduce) {
    // Reduce-scatter: at step s, pass on segment (r - s) and fold in segment
    // (r - s - 1). The last step folds into the segment this rank owns,
    // (r + 1) mod p (ring_owned_range); with 16-bit messages it also rounds
    // that sum once, as it lands: what the all-gather sends, exactly.
    for (int s = 0; s < p - 1; ++s) exchange((r - s + p) % p, (r - s - 1 + 2 * p) % p, s == p - 2);
  } else {
    // All-gather: rank r now owns segment (r + 1) mod p; pass the finished segments around.
    for (int s = 0; s < p - 1; ++s) exchange((r + 1 - s + p) % p, (r - s + p) % p, false);
  }
}

}  // namespace

Range ring_owned_range(int rank, int size, int64_t count) {
  if (size == 1) return {0, count};
  return block_range(count, (rank + 1) % size, size);
}

Range reduce_scatter_ring(Communicator& comm, float* data, int64_t count, GradCompression compression) {
  if (comm.size() > 1 && count > 0) ring_phase(comm, data, count, true, compression);
  return ring_owned_range(comm.rank(), comm.size(), count);
}

void all_gather_ring(Communicator& comm, float* data, int64_t count, GradCompression compression) {
  if (comm.size() > 1 && count > 0) ring_phase(comm, data, count, false, compression);
}

void allreduce_ring(Communicator& comm, float* data, int64_t count) {
  if (comm.size() == 1 || count == 0) return;
  ring_phase(comm, data, count, true, GradCompression::kNone);
  ring_phase(comm, data, count, false, GradCompression::kNone);
}

}  // namespace hpcnn::comm
