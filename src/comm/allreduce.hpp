// Gradient all-reduce: every algorithm is a value, one free function each,
// all with the same signature (docs/algorithms.md gives their steps and bytes
// on the wire). Each sums `count` floats of `data` over all ranks, in place;
// afterwards every rank holds bitwise the same result.
//
// hpcnn averages gradients by scaling the loss by 1 / global batch, so a plain
// sum is the mean gradient: no division pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.hpp"

namespace hpcnn::comm {

/// kNccl reduces GPU memory through NCCL (make_nccl_reducer, the default
/// with --backend cuda); it is not a host algorithm: allreduce() refuses it.
enum class AllreduceAlgo { kRing, kTree, kRhd, kCentral, kMpi, kShm, kHier, kNccl, kAuto };

/// "ring", "tree", ... ; throws UsageError naming the known ones.
AllreduceAlgo parse_allreduce(const std::string& text);
const char* allreduce_name(AllreduceAlgo algo);
/// "gradient all-reduce: ring, tree, ... or auto": the one list of names, for --help.
std::string allreduce_choices_help();

/// The columns of `hpcnn bench allreduce --csv` (read back by hpcnn-merge allreduce).
inline constexpr std::string_view kBenchCsvHeader = "algo,ranks,nodes,count,bytes,time_us,algbw_gbs,busbw_gbs,wrong";
/// Every concrete host algorithm (auto and nccl excluded), in a fixed order.
const std::vector<AllreduceAlgo>& all_allreduce_algos();

void allreduce_ring(Communicator& comm, float* data, int64_t count);
void allreduce_tree(Communicator& comm, float* data, int64_t count);
void allreduce_rhd(Communicator& comm, float* data, int64_t count);
void allreduce_central(Communicator& comm, float* data, int64_t count);
void allreduce_mpi(Communicator& comm, float* data, int64_t count);
void allreduce_shm(Communicator& comm, float* data, int64_t count);
void allreduce_hier(Communicator& comm, float* data, int64_t count);

/// What `auto` picks for this message size on this communicator.
AllreduceAlgo choose_allreduce(const Communicator& comm, int64_t count);

/// Runs `algo` (resolving auto). The one switch over the enum.
void allreduce(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count);

}  // namespace hpcnn::comm
