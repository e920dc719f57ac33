// Pre-flight checks (see preflight.hpp).
#include "train/preflight.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include "comm/allreduce.hpp"
#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "train/checkpoint.hpp"
#include "train/run_dir.hpp"

namespace hpcnn::train {

namespace {
/// Fails now, not after training, when a shard file of any split is missing.
void check_shards_present(const std::filesystem::path& dir, const data::Manifest& m) {
  for (const auto& [name, split] : m.splits) {
    for (const data::ShardInfo& shard : split.shards) {
      HPCNN_CHECK(std::filesystem::is_regular_file(dir / shard.file), dir.string(), ": the ", name, " shard ",
                  shard.file, " is missing (the manifest lists it)");
    }
  }
}
}  // namespace

TrainSplit train_split(const TrainConfig& c, const data::Manifest& manifest) {
  const int64_t n_all = manifest.split("train").num_samples();
  const bool has_val_split = manifest.splits.count("validation") > 0;
  TrainSplit s;
  s.holdout = has_val_split ? 0 : static_cast<int64_t>(std::llround(c.validation_split * static_cast<double>(n_all)));
  s.train = n_all - s.holdout;
  return s;
}

void preflight_checks(const TrainConfig& c, const data::Manifest& manifest, const model::ModelSpec& spec,
                      model::LossKind loss, int world) {
  check_shards_present(c.data_dir, manifest);
  check_model_fits(spec, loss, manifest, "model '" + c.model + "'");
  // NCCL reduces device memory: it needs a GPU backend with a stream.
  if (c.allreduce == comm::AllreduceAlgo::kNccl && c.backend != kernels::BackendKind::kCuda) {
    throw UsageError(cat("--allreduce nccl reduces GPU memory: it needs --backend cuda (with --backend ",
                         kernels::backend_name(c.backend), " use ring, tree, rhd, central, mpi, shm, hier or auto)"));
  }
  const TrainSplit split = train_split(c, manifest);
  HPCNN_CHECK(split.train >= 1, "--validation-split ", c.validation_split, " leaves no training samples");
  HPCNN_CHECK(split.train >= world, "cannot train on ", world, " ranks: the dataset has only ", split.train,
              " training samples (every rank needs at least one)");
  const int64_t global_batch = c.global_batch > 0 ? c.global_batch : c.batch * world;
  HPCNN_CHECK(global_batch >= world, "global batch ", global_batch, " is smaller than the ", world,
              " ranks: every rank needs a sample per step");
  if (c.checkpoint_every_steps > 0 || c.checkpoint_every_seconds > 0) {
    HPCNN_CHECK(!c.run_dir.empty(), "periodic checkpoints need a run directory");
  }
  // --freeze: the layers up to the one named get no gradient; what follows
  // them in the flat parameter buffer (state included, as Model counts it)
  // is what trains.
  const size_t frozen = c.freeze.empty() ? 0 : spec.layer_index(c.freeze) + 1;
  int64_t trainable = 0;
  for (size_t i = frozen; i < spec.layers.size(); ++i) trainable += spec.layers[i].params();
  HPCNN_CHECK(trainable > 0, "--freeze ", c.freeze, " freezes every parameter of model '", c.model,
              "': nothing left to train");
}

void check_outputs(const TrainConfig& c, comm::Communicator& comm) {
  std::string error;
  if (comm.rank() == 0) {
    try {
      check_checkpoint_path(c.checkpoint, c.run_dir, c.data_dir, c.init_from, c.force);
      RunDirectory::check_usable(c.run_dir, c.checkpoint);
      check_writable(c.checkpoint, "--checkpoint");
      check_writable(c.run_dir / "metrics.json", "the run directory's");
    } catch (const Error& e) {
      error = e.message();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (comm.size() > 1) error = comm.broadcast(error);
  if (error.empty()) return;
  // Rank 0 reports; the others end quietly with it (as the run directory's verdict does).
  if (comm.rank() == 0) throw Error(error, __FILE__, __LINE__);
  throw Error(cat("rank 0 stopped: ", error), __FILE__, __LINE__);
}

void check_writable(const std::filesystem::path& path, const char* what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // The directories this probe makes are taken away again: a check leaves
  // nothing behind, so a run refused after it (an --allreduce that
  // --shard-optimizer cannot use, say) leaves no empty run directory.
  std::vector<fs::path> made;
  for (fs::path dir = path.parent_path(); !dir.empty() && !fs::exists(dir, ec); dir = dir.parent_path()) {
    made.push_back(dir);
    if (dir == dir.parent_path()) break;
  }
  struct Cleanup {
    std::vector<fs::path>& dirs;
    ~Cleanup() {
      std::error_code ignored;
      for (const fs::path& d : dirs) fs::remove(d, ignored);  // deepest first; only if empty
    }
  } cleanup{made};
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  HPCNN_CHECK(!ec, what, " ", path.string(), ": cannot create its directory: ", ec.message());
  HPCNN_CHECK(!fs::is_directory(path, ec), what, " ", path.string(), ": is a directory");
  const fs::path probe = path.string() + ".tmp." + std::to_string(getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  HPCNN_CHECK(fd >= 0, what, " ", path.string(), ": cannot be written: ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace hpcnn::train
