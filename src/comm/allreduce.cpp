// Algorithm names, the `auto` policy and the one dispatch switch.
#include "comm/allreduce.hpp"

#include "comm/cost_model.hpp"
#include "core/error.hpp"

namespace hpcnn::comm {

const std::vector<AllreduceAlgo>& all_allreduce_algos() {
  static const std::vector<AllreduceAlgo> kAll{AllreduceAlgo::kRing,    AllreduceAlgo::kTree, AllreduceAlgo::kRhd,
                                               AllreduceAlgo::kCentral, AllreduceAlgo::kMpi,  AllreduceAlgo::kShm,
                                               AllreduceAlgo::kHier};
  return kAll;
}

const char* allreduce_name(AllreduceAlgo algo) {
  switch (algo) {
    case AllreduceAlgo::kRing: return "ring";
    case AllreduceAlgo::kTree: return "tree";
    case AllreduceAlgo::kRhd: return "rhd";
    case AllreduceAlgo::kCentral: return "central";
    case AllreduceAlgo::kMpi: return "mpi";
    case AllreduceAlgo::kShm: return "shm";
    case AllreduceAlgo::kHier: return "hier";
    case AllreduceAlgo::kNccl: return "nccl";
    case AllreduceAlgo::kAuto: return "auto";
  }
  return "unknown";
}

namespace {
/// "ring, tree, rhd, central, mpi, shm, hier or auto", from the one list.
std::string names_or_auto() {
  std::string names;
  for (AllreduceAlgo a : all_allreduce_algos()) names += std::string(allreduce_name(a)) + ", ";
  return names + "nccl (GPU memory, --backend cuda) or auto";
}
}  // namespace

std::string allreduce_choices_help() { return "gradient all-reduce: " + names_or_auto(); }

AllreduceAlgo parse_allreduce(const std::string& text) {
  for (AllreduceAlgo a : all_allreduce_algos()) {
    if (text == allreduce_name(a)) return a;
  }
  if (text == "auto") return AllreduceAlgo::kAuto;
  if (text == "nccl") return AllreduceAlgo::kNccl;
  throw UsageError("unknown all-reduce algorithm '" + text + "' (expected " + names_or_auto() + ")");
}

AllreduceAlgo choose_allreduce(const Communicator& comm, int64_t count) {
  // The algorithm the cost model predicts fastest for this placement and
  // size (comm/cost_model.hpp; the model: process_cost_model()). It replaced
  // a fixed rule (< 64 KiB mpi, one node shm, multi-rank nodes hier, else
  // ring) that ignored the network: see docs/algorithms.md. Remembered per
  // placement and size (process_choice_cache): with a topology model one
  // decision walks every flow of every step, milliseconds at 1,024 ranks.
  return process_choice_cache().choose(placement_of(comm), static_cast<double>(count) * sizeof(float)).algo;
}

void allreduce(Communicator& comm, AllreduceAlgo algo, float* data, int64_t count) {
  switch (algo) {
    case AllreduceAlgo::kRing: return allreduce_ring(comm, data, count);
    case AllreduceAlgo::kTree: return allreduce_tree(comm, data, count);
    case AllreduceAlgo::kRhd: return allreduce_rhd(comm, data, count);
    case AllreduceAlgo::kCentral: return allreduce_central(comm, data, count);
    case AllreduceAlgo::kMpi: return allreduce_mpi(comm, data, count);
    case AllreduceAlgo::kShm: return allreduce_shm(comm, data, count);
    case AllreduceAlgo::kHier: return allreduce_hier(comm, data, count);
    case AllreduceAlgo::kNccl:
      throw UsageError("--allreduce nccl reduces GPU memory (--backend cuda), not host buffers");
    case AllreduceAlgo::kAuto: return allreduce(comm, choose_allreduce(comm, count), data, count);
  }
  HPCNN_THROW("unknown all-reduce algorithm ", static_cast<int>(algo));
}

}  // namespace hpcnn::comm
