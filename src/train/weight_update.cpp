// The gradient exchange and the optimizer, plain or sharded (weight_update.hpp).
#include "train/weight_update.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "comm/shard_state.hpp"
#include "core/error.hpp"

namespace hpcnn::train {

namespace {
/// How a sharded run on a CPU backend all-gathers its weights:
/// HPCNN_SHARD_GATHER unset or `pipelined`: pipelined with the optimizer
/// pass, by messages on the caller's thread inside one node
/// (comm::DirectGatherer), on a thread of its own across nodes
/// (comm::BlockGatherer); `direct` or `thread` force one of the two; `after`
/// gathers after the whole pass, as before the pipelined gather. The other
/// values are for A/B measurements (results/zero/gather_ab.sh, cpu_ab.sh).
/// Every rank must see the same value (mpirun passes the environment on):
/// the orders do not pair.
enum class GatherMode { kPipelined, kDirect, kThread, kAfter };
GatherMode gather_mode() {
  const char* env = std::getenv("HPCNN_SHARD_GATHER");
  if (env == nullptr) return GatherMode::kPipelined;
  const std::string v = env;
  if (v == "pipelined") return GatherMode::kPipelined;
  if (v == "direct") return GatherMode::kDirect;
  if (v == "thread") return GatherMode::kThread;
  if (v == "after") return GatherMode::kAfter;
  throw UsageError("HPCNN_SHARD_GATHER='" + v + "' (expected pipelined, direct, thread or after)");
}

/// Floats of a sharded optimizer's state rank 0 holds at a time while it
/// writes a checkpoint: one reduction block (1 MiB).
constexpr int64_t kStateWindow = comm::kReduceBlock;
}  // namespace

comm::AllreduceAlgo resolve_run_allreduce(const comm::Communicator& comm, const TrainConfig& c, int64_t n_params,
                                          bool gpu_stream) {
  using comm::AllreduceAlgo;
  const bool compressed = c.grad_compression != comm::GradCompression::kNone;
  if (c.allreduce == AllreduceAlgo::kNccl) {
    if (compressed) {
      throw UsageError(std::string("--grad-compression ") + comm::grad_compression_name(c.grad_compression) +
                       " runs on the ring all-reduce only, not 'nccl'");
    }
    return AllreduceAlgo::kNccl;
  }
  // `auto` on a GPU backend is NCCL (its sharded variant too), unless the
  // messages are compressed: that is the MPI ring's (staged through the host).
  if (c.allreduce == AllreduceAlgo::kAuto && gpu_stream && comm::nccl_compiled() && !compressed) {
    return AllreduceAlgo::kNccl;
  }
  AllreduceAlgo algo = c.allreduce;
  if (compressed && algo == AllreduceAlgo::kAuto) algo = AllreduceAlgo::kRing;  // the one algorithm that compresses
  if (c.shard_optimizer) algo = comm::resolve_sharded_allreduce(comm, algo, n_params);
  algo = comm::resolve_allreduce(comm, algo, n_params);
  // Refused here, before the run directory or a collective, on every rank alike.
  if (c.shard_optimizer && !comm::has_reduce_scatter(algo)) {
    throw UsageError(std::string("--shard-optimizer needs an all-reduce with a reduce-scatter half (ring, rhd, hier; "
                                 "auto picks among them), not '") +
                     comm::allreduce_name(algo) + "'");
  }
  if (compressed && algo != AllreduceAlgo::kRing) {
    throw UsageError(std::string("--grad-compression ") + comm::grad_compression_name(c.grad_compression) +
                     " runs on the ring all-reduce only, not '" + comm::allreduce_name(algo) + "'");
  }
  return algo;
}

void broadcast_params(comm::Communicator& comm, kernels::Backend& backend, float* params, int64_t count) {
  if (comm.size() == 1) return;
  const bool host = backend.device() == kernels::DeviceKind::kCpu;
  std::vector<float> window(host ? 0 : static_cast<size_t>(std::min(count, kBroadcastWindow)));
  for (int64_t first = 0; first < count; first += kBroadcastWindow) {
    const int64_t n = std::min(kBroadcastWindow, count - first);
    if (host) {
      comm.broadcast(params + first, n);
      continue;
    }
    if (comm.rank() == 0) backend.download(window.data(), params + first, n);
    comm.broadcast(window.data(), n);
    if (comm.rank() != 0) backend.upload(params + first, window.data(), n);
  }
}

WeightUpdate::WeightUpdate(comm::Communicator& comm, kernels::Backend& backend, model::Model& net, const TrainConfig& c,
                           comm::AllreduceAlgo algo, bool exchange)
    : comm_(comm),
      backend_(backend),
      net_(net),
      offset_(net.trainable_offset()),
      count_(net.num_params() - net.trainable_offset()) {
  // Gradients in device memory go through host staging buffers (the MPI
  // algorithms) on a GPU backend; never hand device pointers to host code.
  float* grads = net_.grads() + offset_;
  const bool gpu = backend_.device() == kernels::DeviceKind::kGpu;
  const comm::GradCompression z = c.grad_compression;
  // Read (and refused when bad) on every sharded run, one rank included.
  const GatherMode gather = c.shard_optimizer ? gather_mode() : GatherMode::kAfter;
  if (exchange && c.shard_optimizer) {
    std::unique_ptr<comm::ShardedReducer> r;
    if (algo == comm::AllreduceAlgo::kNccl) {
      r = comm::make_nccl_sharded_reducer(comm_, backend_, grads, count_);
    } else if (gpu) {
      r = comm::make_sharded_staged_reducer(comm_, algo, backend_, grads, count_, z);
    } else {
      r = comm::make_sharded_reducer(comm_, algo, grads, count_, z);
    }
    sharded_ = r.get();
    reducer_ = std::move(r);
    // Host weights: the all-gather pipelined with the optimizer (the staged
    // and NCCL reducers gather device memory themselves, after the pass).
    // Inside one node by messages on this thread: the gather thread's
    // blocking waits spun on the core the optimizer needs (issue 30,
    // results/zero/cpu_ab.md); across nodes the thread's exchanges pace
    // their waits for the network.
    const bool direct = gather == GatherMode::kDirect || (gather == GatherMode::kPipelined && comm_.num_nodes() == 1);
    if (!gpu && direct) {
      gatherer_ = std::make_unique<comm::DirectGatherer>(comm_, sharded_->slices(), count_);
    } else if (!gpu && gather != GatherMode::kAfter) {
      gatherer_ = std::make_unique<comm::BlockGatherer>(comm_, sharded_->algo(), count_);
    }
  } else if (exchange) {
    if (algo == comm::AllreduceAlgo::kNccl) {
      reducer_ = comm::make_nccl_reducer(comm_, backend_, grads, count_);
    } else if (gpu) {
      reducer_ = comm::make_staged_reducer(comm_, algo, backend_, grads, count_, z);
    } else {
      reducer_ = comm::make_host_reducer(comm_, algo, grads, count_, z);
    }
  }
  optimizer_ = std::make_unique<model::Optimizer>(c.optimizer, backend_, sharded_ ? sharded_->shard_count() : count_);
}

void WeightUpdate::apply() {
  float* params = net_.params() + offset_;
  if (sharded_ == nullptr) {
    optimizer_->step(params, net_.grads() + offset_);
    return;
  }
  if (gatherer_ != nullptr) {
    // Slice i is block i's (one per block, in block order): each block is
    // gathered once this rank's slice of it is updated, while Adam goes on.
    gatherer_->begin(params);
    optimizer_->step_slices(params, sharded_->shard_gradients(), sharded_->shard_gradient_offsets(), sharded_->slices(),
                            [this](size_t block) { gatherer_->ready(static_cast<int64_t>(block)); });
    all_gather_s_ = gatherer_->finish();  // the trace's allgather phase: what Adam did not hide
    return;
  }
  optimizer_->step_slices(params, sharded_->shard_gradients(), sharded_->shard_gradient_offsets(), sharded_->slices());
  const auto t_gather = std::chrono::steady_clock::now();  // the trace's allgather phase
  sharded_->all_gather(params);
  all_gather_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_gather).count();
}

void WeightUpdate::restore(int64_t steps, const std::vector<float>& a, const std::vector<float>& b) {
  const bool adam = optimizer_->config().kind == model::OptimizerKind::kAdam;
  if (sharded_ != nullptr) {  // rank 0 read the checkpoint and sends each rank its slices only
    const std::vector<comm::Range>& slices = sharded_->slices();
    const std::vector<float> mine_a = comm::scatter_shard(comm_, slices, a, count_);
    const std::vector<float> mine_b = adam ? comm::scatter_shard(comm_, slices, b, count_) : std::vector<float>();
    optimizer_->restore(steps, mine_a, mine_b);
    return;
  }
  if (comm_.size() == 1) {
    optimizer_->restore(steps, a, b);
    return;
  }
  std::vector<float> full_a = a, full_b = b;  // rank 0 read the checkpoint
  full_a.resize(static_cast<size_t>(count_));
  full_b.resize(adam ? static_cast<size_t>(count_) : 0);
  comm_.broadcast(full_a.data(), static_cast<int64_t>(full_a.size()));
  comm_.broadcast(full_b.data(), static_cast<int64_t>(full_b.size()));
  optimizer_->restore(steps, full_a, full_b);
}

OptimizerStateStream WeightUpdate::state_stream() const {
  OptimizerStateStream s{optimizer_->config(), optimizer_->steps(), {}};
  const bool adam = s.config.kind == model::OptimizerKind::kAdam;
  s.each_chunk = [this, adam](const OptimizerStateStream::Sink& sink) {
    const bool host = backend_.device() == kernels::DeviceKind::kCpu;
    // The state in place on a CPU backend, else downloaded (one vector at a time).
    const auto with_state = [&](bool b, const auto& use) {
      if (host) {
        use(b ? optimizer_->state_b_in_place() : optimizer_->state_a_in_place());
      } else {
        const std::vector<float> v = b ? optimizer_->state_b() : optimizer_->state_a();
        use(std::span<const float>(v));
      }
    };
    if (sharded_ == nullptr) {
      if (comm_.rank() != 0) return;
      with_state(false, [&](std::span<const float> v) { sink(0, 0, v); });
      if (adam) with_state(true, [&](std::span<const float> v) { sink(1, 0, v); });
      return;
    }
    // Sharded: rank 0 receives one window of each vector at a time from the
    // slices' owners and writes it before the next (issue 30: it gathered a
    // whole vector, 1 W of host memory at 414 M parameters, before writing).
    std::exception_ptr failed;
    const auto gather = [&](int vector) {
      with_state(vector == 1, [&](std::span<const float> mine) {
        comm::gather_shard_windows(comm_, sharded_->slices(), mine, count_, kStateWindow,
                                   [&](int64_t first, std::span<const float> values) {
                                     if (!failed) sink(vector, first, values);
                                   });
      });
    };
    for (int vector = 0; vector < (adam ? 2 : 1); ++vector) {
      try {  // a failed sink drains its vector's gathers and the next vector's (dropped), then it is reported
        gather(vector);
      } catch (...) {
        if (!failed) failed = std::current_exception();
      }
    }
    if (failed) std::rethrow_exception(failed);
  };
  return s;
}

int64_t WeightUpdate::optimizer_state_bytes() const {
  const int64_t n = sharded_ ? sharded_->shard_count() : count_;
  const int64_t buffers = optimizer_->config().kind == model::OptimizerKind::kAdam ? 2 : 1;
  return n * buffers * static_cast<int64_t>(sizeof(float));
}

int64_t WeightUpdate::reduced_gradient_bytes() const {
  // The host reducer leaves them in place, inside the gradient buffer; the
  // staged and NCCL reducers pack them into a device buffer of their own.
  if (sharded_ == nullptr || backend_.device() != kernels::DeviceKind::kGpu) return 0;
  return sharded_->shard_count() * static_cast<int64_t>(sizeof(float));
}

int64_t WeightUpdate::checkpoint_bytes() const {
  if (comm_.rank() != 0) return 0;
  constexpr auto kFloat = static_cast<int64_t>(sizeof(float));
  if (backend_.device() == kernels::DeviceKind::kGpu) return (net_.num_params() + count_) * kFloat;
  return sharded_ != nullptr ? std::min(count_, kStateWindow) * kFloat : 0;
}

int64_t WeightUpdate::staging_bytes() const {
  if (reducer_ == nullptr || backend_.device() != kernels::DeviceKind::kGpu ||
      reducer_->algo() == comm::AllreduceAlgo::kNccl)
    return 0;
  return std::min(count_, comm::kReduceBlock) * static_cast<int64_t>(sizeof(float));
}

}  // namespace hpcnn::train
