// Pieces shared by the point-to-point all-reduce algorithms.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <utility>

#include "comm/communicator.hpp"
#include "core/check.hpp"
#include "core/median.hpp"
#include "core/partition.hpp"

namespace hpcnn::comm::detail {

/// Floats per message piece: large enough to stream, small enough to overlap
/// the reduction of one piece with the transfer of the next.
inline constexpr int64_t kChunk = 1 << 16;  // 256 KiB

/// dst[i] += src[i]
inline void add_into(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

inline void send(const float* p, int64_t n, int to, int tag, MPI_Comm c) {
  MPI_CHECK(MPI_Send(p, static_cast<int>(n), MPI_FLOAT, to, tag, c));
}
inline void recv(float* p, int64_t n, int from, int tag, MPI_Comm c) {
  MPI_CHECK(MPI_Recv(p, static_cast<int>(n), MPI_FLOAT, from, tag, c, MPI_STATUS_IGNORE));
}

/// How exchange() paces a transfer: pieces of `chunk` floats, at most
/// `window` sends in flight.
struct Pacing {
  int64_t chunk = kChunk;
  int window = 1 << 30;
  int poll_sleep_us = 0;  ///< > 0: wait by testing with this sleep between tries, not by spinning
};

/// Chunks one rank may have in flight towards a peer on another node.
/// Measured on two emulated nodes over TCP at 1 Gbit/s (results/cluster/,
/// docs/algorithms.md): with every chunk of a segment posted at once, Open MPI
/// queues the rendezvous replies a rank owes its peer behind its own outgoing
/// chunks on their one TCP connection, so the two directions often take turns
/// and a 2-rank ring ran at half the link rate (0.064 GB/s busBw at 16 MB).
/// Two chunks in flight keep the link busy and let replies through: 0.11-0.12
/// GB/s. Inside a node (shared-memory transport) a window only adds round
/// trips, so there every chunk is posted at once.
inline constexpr int kRemoteSendWindow = 2;
/// Across nodes a chunk takes milliseconds on the wire (256 KiB at 1 Gbit/s:
/// 2 ms), so waiting in sleeps of up to 50 us costs little and frees the core
/// for backward, which the reduction overlaps (results/overlap/). After
/// untested sleeps (paced_sleep_us) it is the shortest back-off sleep, and a
/// long wait sleeps up to an eighth of a piece's transfer
/// (ArrivalEstimate::max_poll_sleep_us).
inline constexpr int kRemotePollSleepUs = 50;
/// A wait across nodes first spins this long (a small message on a fast
/// network lands within it), then sleeps an eighth of the time waited so far
/// between tests (at least 1 us, at most kRemotePollSleepUs), so a message
/// is found at most ~12 % of its wait after it landed. Before, a wait slept
/// 50 us at a time as soon as this thread's recent waits averaged over 300
/// us, and in a ring, a chain, one rank's late wake-up delays every rank
/// after it: a 4-byte ring on 256 simulated 100 Gbit/s nodes took 34.3 ms,
/// 67 us a step (docs/simulation.md, results/sim/pacing.txt). The back-off
/// keeps long waits (1 Gbit/s) as sleepy as before: 50 us sleeps once a
/// wait has lasted 400 us.
inline constexpr double kSpinBeforeSleepUs = 10;
inline constexpr double kMinPollSleepUs = 1;
inline constexpr double kPollBackoffDivisor = 8;

/// How soon a receive across nodes can have landed, learnt from this
/// thread's earlier ones, so that a wait first sleeps part of that time in
/// one go instead of spinning and backing off from 10 us. On 2 emulated
/// nodes at 1 Gbit/s (results/overlap/bf16/README.md) a 2 ms wait for a
/// 256 KiB piece was ~60 wake-ups of the communication thread (the
/// back-off's ramp from 10 us to 400 us alone is ~30); a bf16 step, ~350 of
/// them, 10 ms of its CPU per step and rank (28 us each, 70 % in the kernel:
/// context switches, timers), taken from backward on the shared cores.
///
/// Only so far, though, as the bytes flow without this rank: Open MPI sends
/// a large message's first bytes, up to its TCP eager limit (64 KiB by
/// default), and the rest once the receiver has answered, and each side
/// answers only inside an MPI call. Sleeping untested through a whole
/// piece would stall that handshake, and the stalled transfers, observed,
/// would lengthen the sleeps: so with a piece over the eager limit a wait
/// sleeps untested only until the first eager-limit bytes of its piece can
/// have arrived (after the pieces before it), then backs off
/// (paced_sleep_us). A piece within the eager
/// limit (the emulated cluster sends up to 512 KiB eagerly,
/// tools/cluster/cluster.sh) flows whole without the receiver: its wait
/// sleeps untested until the whole piece can have arrived, in sleeps of
/// kSleepFraction of the time left, each followed by one test, until less
/// than kMinUntestedSleepNs is left (issue 30: a 2 ms piece took one 0.4 ms
/// sleep and then ~30 tests 50 us apart; now 3-4 sleeps).
///
/// The estimate is the median of the last kWindow observations: a transfer
/// whose bytes were already waiting (the peer ran ahead) looks infinitely
/// fast, one whose peer was late looks slow, and both happen at every bucket
/// (a running minimum, tried first, sat at the fast outliers and saved
/// nothing). Until kWindow transfers are seen it is kFastestNsPerByte
/// (10 GB/s: a short first sleep, the old behaviour), and the untested sleeps
/// never reach past kMaxUntestedNs, so that a slow start cannot make them long.
/// Only transfers of kMinLearnBytes or more are observed (smaller ones measure
/// latency, not the link).
struct ArrivalEstimate {
  static constexpr double kFastestNsPerByte = 0.1;
  static constexpr int kWindow = 15;
  static constexpr int64_t kMinLearnBytes = int64_t{64} << 10;
  /// The share of the time left that one untested sleep takes.
  static constexpr double kSleepFraction = 0.75;
  /// Open MPI's TCP eager limit by default (btl_tcp_eager_limit), and where
  /// it cannot be read (tcp_eager_limit()).
  static constexpr int64_t kDefaultEagerBytes = int64_t{64} << 10;
  /// Open MPI's eager limit counts its fragment headers (ob1's and the TCP
  /// transport's, a few tens of bytes): a piece fits with this much room.
  static constexpr int64_t kEagerHeaderBytes = 64;
  static constexpr double kMaxUntestedNs = 4e6;
  /// Below this much time left, the bytes may be there: test and back off.
  static constexpr double kMinUntestedSleepNs = 50e3;
  /// The back-off's longest sleep for the slowest links (max_poll_sleep_us).
  static constexpr double kMaxPollSleepUs = 500;

  double ns_per_byte = kFastestNsPerByte;

  /// A transfer of `bytes` took `ns` from posting to its last byte's arrival.
  void observe(double ns, int64_t bytes) {
    if (bytes < kMinLearnBytes || !(ns > 0)) return;
    recent_[static_cast<size_t>(seen_ % kWindow)] = ns / static_cast<double>(bytes);
    if (++seen_ < kWindow) return;
    ns_per_byte = upper_median(recent_);
  }
  /// When, after posting, the bytes that a piece of `piece_bytes` sends
  /// without the receiver's answer can have arrived, after `before_bytes`
  /// of earlier pieces, with the sender's eager limit at `eager_bytes`: the
  /// whole piece when it fits that limit, else its first `eager_bytes`.
  double arrival_ns(int64_t before_bytes, int64_t piece_bytes, int64_t eager_bytes) const {
    const int64_t flowing =
        piece_bytes + kEagerHeaderBytes <= eager_bytes ? piece_bytes : std::min(piece_bytes, eager_bytes);
    return std::min(kMaxUntestedNs, ns_per_byte * static_cast<double>(before_bytes + flowing));
  }
  /// The longest back-off sleep of a wait for a piece of `piece_bytes`: an
  /// eighth of the piece's transfer at the estimated rate (the back-off's
  /// own bound on how late bytes are found), at least `floor_us`
  /// (kRemotePollSleepUs), at most kMaxPollSleepUs. Past its untested sleeps
  /// a wait's bytes are late, under load by up to tens of ms (the peer
  /// behind): in 50 us sleeps those waits were ~160 of the communication
  /// thread's ~180 wake-ups a bf16 step (load 8-10, issue 30). A 256 KiB
  /// piece at 1 Gbit/s (2.1 ms): 260 us; at 100 Gbit/s still 50 us.
  double max_poll_sleep_us(int64_t piece_bytes, double floor_us) const {
    const double eighth_us = ns_per_byte * static_cast<double>(piece_bytes) / kPollBackoffDivisor / 1e3;
    return std::max(floor_us, std::min(kMaxPollSleepUs, eighth_us));
  }
  /// How long a wait sleeps untested with `left_ns` to go to arrival_ns():
  /// kSleepFraction of it, and 0 (test, then back off) once less than
  /// kMinUntestedSleepNs is left.
  static double untested_sleep_ns(double left_ns) {
    return left_ns < kMinUntestedSleepNs ? 0 : std::max(kMinUntestedSleepNs, kSleepFraction * left_ns);
  }

 private:
  std::array<double, kWindow> recent_{};
  int64_t seen_ = 0;
};

/// What this thread's exchanges did while waiting (exchange.cpp counts; the
/// reducer's communication thread writes them out under HPCNN_COMM_COUNTERS,
/// results/overlap/bf16/wakeups.md). Each test and each sleep is a wake-up of
/// the thread or a pass through Open MPI's progress (its TCP sockets' poll and
/// reads), both CPU taken from backward on the emulated nodes.
struct WaitCounters {
  int64_t exchanges = 0;        ///< exchange() calls
  int64_t pieces = 0;           ///< pieces received
  int64_t blocking_waits = 0;   ///< MPI_Waitany calls (inside a node, hpcnn-sim)
  int64_t tests = 0;            ///< MPI_Test / MPI_Testany calls (each one pass of Open MPI's progress)
  int64_t untested_sleeps = 0;  ///< sleeps before the bytes can have arrived (ArrivalEstimate)
  int64_t backoff_sleeps = 0;   ///< sleeps between tests once they can have
  double slept_ns = 0;          ///< asked for, in both kinds of sleep
};
/// This thread's counters (exchange.cpp).
WaitCounters& wait_counters();

/// The TCP eager limit Open MPI sends with (btl_tcp_eager_limit, read once
/// from OMPI_MCA_btl_tcp_eager_limit; the receiver assumes its peers run
/// with its own settings), or ArrivalEstimate::kDefaultEagerBytes where it
/// is not set there. Defined in exchange.cpp.
int64_t tcp_eager_limit();

/// Between two tests of the spin: nothing (hpcnn-sim: 1 us of simulated time).
void spin_pause();
/// Whether waits across nodes block in MPI_Waitany instead of testing and
/// sleeping: false (hpcnn-sim: true unless `--pacing poll`); exchange.cpp.
bool block_remote_waits();

/// How long a wait across nodes sleeps before its next test, having waited
/// `waited_us` so far (0: test again at once); defined in exchange.cpp.
double poll_sleep_us(double waited_us, double max_sleep_us);

/// How long a paced wait sleeps before its next test (0: test again at
/// once): `waited_us` into the wait, `left_us` before its bytes can have
/// arrived (ArrivalEstimate::arrival_ns; <= 0: they can), `slept_untested`
/// whether it has slept untested already. Untested sleeps first
/// (ArrivalEstimate::untested_sleep_ns; `*untested` says so); after them the
/// bytes are late, and it sleeps an eighth of the time since they could have
/// arrived, from `floor_us` (kRemotePollSleepUs: the first tests come 50 us
/// apart, not after a ramp from 1 us) to `max_us`
/// (ArrivalEstimate::max_poll_sleep_us); a wait without untested sleeps
/// backs off as poll_sleep_us() says, up to `floor_us` as before. Defined in
/// exchange.cpp.
double paced_sleep_us(double waited_us, double left_us, bool slept_untested, double floor_us, double max_us,
                      bool* untested);

/// Pacing for messages from this rank to `peer`: windowed chunks across
/// nodes; inside a node, chunks all posted at once (`whole_locally`: one
/// piece, as a plain MPI_Sendrecv; rhd's halves measured faster so, 3.7 vs
/// 3.2 GB/s busBw at 17.4 MB on 2 ranks).
inline Pacing pacing(const Communicator& comm, int peer, bool whole_locally = false) {
  if (!comm.same_node(peer)) return {kChunk, kRemoteSendWindow, kRemotePollSleepUs};
  return {whole_locally ? int64_t{1} << 62 : kChunk, 1 << 30};
}

/// Called as each received piece lands, in order: (offset, count) within the receive range.
using ChunkFn = std::function<void(int64_t offset, int64_t count)>;

/// Full-duplex paced exchange with two peers (they may be the same rank):
/// sends send[0, send_count) to `to` while receiving recv[0, recv_count) from
/// `from`, both cut into pieces of `pace.chunk` floats tagged by their index.
/// Every receive is posted first; at most `pace.window` sends are in flight;
/// `on_chunk` runs on each received piece as soon as it has arrived, while
/// later pieces are still on the wire. Defined in exchange.cpp.
void exchange(const float* send, int64_t send_count, int to, float* recv, int64_t recv_count, int from, MPI_Comm comm,
              Pacing pace, const ChunkFn& on_chunk);
/// exchange() of 16-bit values (bf16-compressed gradients, MPI_UINT16_T);
/// counts and offsets are in elements, and the pieces are of the same bytes
/// as the float exchange's (2 x pace.chunk elements): fewer waits per byte.
void exchange(const uint16_t* send, int64_t send_count, int to, uint16_t* recv, int64_t recv_count, int from,
              MPI_Comm comm, Pacing pace, const ChunkFn& on_chunk);

/// hier's choice between the node leaders: ring for messages from 256 KiB,
/// recursive halving-doubling below (latency-bound).
inline bool hier_leaders_use_ring(int64_t count) {
  return count * static_cast<int64_t>(sizeof(float)) >= (int64_t{256} << 10);
}

/// Runs on the node leader with the node's sum (rank 0's shared slot piece).
using LeaderStep = std::function<void(float* node_sum, int64_t n)>;

/// The shared-memory all-reduce of a node, piece by piece; with `leader_step`
/// the leader transforms the node sum (e.g. all-reduces it between nodes)
/// before every rank copies it out. Defined in allreduce_shm.cpp.
void shm_allreduce(Communicator& comm, float* data, int64_t count, const LeaderStep& leader_step);

}  // namespace hpcnn::comm::detail
