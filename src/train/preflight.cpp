// Pre-flight checks (see preflight.hpp).
#include "train/preflight.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "comm/allreduce.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"

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
}

void check_writable(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  HPCNN_CHECK(!ec, what, " ", path.string(), ": cannot create its directory: ", ec.message());
  HPCNN_CHECK(!std::filesystem::is_directory(path, ec), what, " ", path.string(), ": is a directory");
  const std::filesystem::path probe = path.string() + ".tmp." + std::to_string(getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  HPCNN_CHECK(fd >= 0, what, " ", path.string(), ": cannot be written: ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace hpcnn::train
