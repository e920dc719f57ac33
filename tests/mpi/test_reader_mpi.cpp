// The dataset reader under real MPI ranks: rank r of p reads its own part of
// every epoch from HDF5 shards on a shared filesystem; rank 0 gathers what was
// read and checks that every sample came exactly once and byte-correct.
#include <mpi.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/log.hpp"
#include "data/dataset.hpp"
#include "data/prefetch.hpp"
#include "data/sampling.hpp"
#include "data/synth/generate.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
namespace fs = std::filesystem;

namespace {
struct World {
  int rank = 0, size = 1;
  World() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
};

/// Rank 0 makes a small dataset (9 shards of uneven size) in a shared directory.
fs::path shared_dataset(const World& w) {
  std::string path(512, '\0');
  if (w.rank == 0) {
    const fs::path dir = fs::temp_directory_path() / ("hpcnn-mpi-" + std::to_string(getpid()));
    fs::remove_all(dir);
    synth::SynthConfig c;
    c.kind = synth::Kind::kCircuits;
    c.out = dir / "circuits";
    c.train = 501;  // not a multiple of any rank count tested
    c.test = 0;
    c.shards = 9;  // >= 8 ranks for shard-per-rank mode, and uneven
    c.image_size = 12;
    synth::generate(c, Logger(LogLevel::kQuiet));
    path = c.out.string();
    path.resize(512, '\0');
  }
  MPI_Bcast(path.data(), 512, MPI_CHAR, 0, MPI_COMM_WORLD);
  return fs::path(path.c_str());
}
/// Rank 0's reference: the whole training split read in order (empty elsewhere).
Batch reference_on_root(const World& w, const fs::path& dir, const Manifest& m) {
  Batch all;
  if (w.rank == 0) {
    const int64_t n = m.split("train").num_samples();
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
    SplitReader(dir, m, "train").read(idx, all);
  }
  return all;
}

/// Every rank's (index, label) pairs, gathered on rank 0 in rank order.
struct Gathered {
  std::vector<int> counts, displs;
  std::vector<int64_t> indices;
  std::vector<int32_t> labels;
};
Gathered gather_on_root(const World& w, const std::vector<int64_t>& mine, const std::vector<int32_t>& labels,
                        int64_t n) {
  Gathered g;
  const int count = static_cast<int>(mine.size());
  g.counts.resize(static_cast<size_t>(w.size));
  g.displs.resize(static_cast<size_t>(w.size));
  MPI_Gather(&count, 1, MPI_INT, g.counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  for (int r = 1; r < w.size; ++r)
    g.displs[static_cast<size_t>(r)] = g.displs[static_cast<size_t>(r - 1)] + g.counts[static_cast<size_t>(r - 1)];
  g.indices.resize(static_cast<size_t>(n));
  g.labels.resize(static_cast<size_t>(n));
  MPI_Gatherv(mine.data(), count, MPI_INT64_T, g.indices.data(), g.counts.data(), g.displs.data(), MPI_INT64_T, 0,
              MPI_COMM_WORLD);
  MPI_Gatherv(labels.data(), count, MPI_INT32_T, g.labels.data(), g.counts.data(), g.displs.data(), MPI_INT32_T, 0,
              MPI_COMM_WORLD);
  return g;
}

/// On rank 0: every one of the n samples was gathered exactly once, and with
/// the label the reference read gives it.
void check_each_sample_once(const Gathered& g, int64_t n, const Batch& all) {
  int total = 0;
  for (int c : g.counts) total += c;
  REQUIRE(total == n);
  std::vector<int> seen(static_cast<size_t>(n), 0);
  bool labels_ok = true;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = g.indices[static_cast<size_t>(k)];
    ++seen[static_cast<size_t>(i)];
    labels_ok = labels_ok && g.labels[static_cast<size_t>(k)] == all.labels[static_cast<size_t>(i)];
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
  CHECK(labels_ok);
}
}  // namespace

TEST_CASE("MPI reader: every sample read by exactly one rank, with the right bytes", "[mpi][data]") {
  const World w;
  const fs::path dir = shared_dataset(w);
  const Manifest m = load_manifest(dir);
  const int64_t n = m.split("train").num_samples();
  const int64_t elems = m.sample_elements();

  const Batch all = reference_on_root(w, dir, m);

  for (SamplingMode mode : {SamplingMode::kGlobal, SamplingMode::kLocal}) {
    for (int64_t epoch = 1; epoch <= 2; ++epoch) {
      // The epoch as the trainer reads it: this rank's slice of every step.
      const EpochPlan plan(mode, m.split("train"), n, 64, w.rank, w.size, 77, epoch);
      std::vector<int64_t> mine;
      for (int64_t s = 0; s < plan.steps(); ++s) {
        mine.insert(mine.end(), plan.step_indices(s).begin(), plan.step_indices(s).end());
      }
      SplitReader reader(dir, m, "train");
      Batch batch;
      reader.read(mine, batch);

      // Gather (indices, labels, samples) on rank 0.
      const int count = static_cast<int>(mine.size());
      const Gathered g = gather_on_root(w, mine, batch.labels, n);
      std::vector<int> sample_counts(g.counts), sample_displs(g.displs);
      for (int r = 0; r < w.size; ++r) {
        sample_counts[static_cast<size_t>(r)] *= static_cast<int>(elems);
        sample_displs[static_cast<size_t>(r)] *= static_cast<int>(elems);
      }
      std::vector<float> got_samples(static_cast<size_t>(n * elems));
      MPI_Gatherv(batch.samples.data(), count * static_cast<int>(elems), MPI_FLOAT, got_samples.data(),
                  sample_counts.data(), sample_displs.data(), MPI_FLOAT, 0, MPI_COMM_WORLD);

      if (w.rank == 0) {
        INFO("mode " << sampling_mode_name(mode) << " epoch " << epoch << " ranks " << w.size);
        check_each_sample_once(g, n, all);
        bool bytes_ok = true;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t i = g.indices[static_cast<size_t>(k)];
          bytes_ok = bytes_ok && std::equal(got_samples.begin() + k * elems, got_samples.begin() + (k + 1) * elems,
                                            all.samples.begin() + i * elems);
        }
        CHECK(bytes_ok);
      }
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) fs::remove_all(dir.parent_path());
}

TEST_CASE("MPI training input: every sample once per epoch through the background reader, both samplings",
          "[mpi][data]") {
  const World w;
  const fs::path dir = shared_dataset(w);
  const Manifest m = load_manifest(dir);
  const int64_t n = m.split("train").num_samples();
  const Batch all = reference_on_root(w, dir, m);
  for (SamplingMode mode : {SamplingMode::kGlobal, SamplingMode::kLocal}) {
    for (int64_t epoch = 1; epoch <= 2; ++epoch) {
      const int64_t global_batch = 8 * w.size + 3;
      const EpochPlan plan(mode, m.split("train"), n, global_batch, w.rank, w.size, 31, epoch, 2);
      SplitReader reader(dir, m, "train");
      if (mode == SamplingMode::kLocal) reader.set_block_cache(1);  // the smallest cache still reads right
      std::vector<int64_t> mine;
      std::vector<int32_t> labels;
      {
        Prefetcher prefetch(reader, plan, 0, 2);
        Batch b;
        for (int64_t s = 0; s < plan.steps(); ++s) {
          if (plan.step_indices(s).empty()) continue;
          prefetch.take(b);
          mine.insert(mine.end(), b.indices.begin(), b.indices.end());
          labels.insert(labels.end(), b.labels.begin(), b.labels.end());
        }
      }
      int64_t steps = plan.steps(), max_steps = 0;
      MPI_Allreduce(&steps, &max_steps, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
      CHECK(max_steps == steps);  // every rank takes the same number of steps
      const Gathered g = gather_on_root(w, mine, labels, n);
      if (w.rank == 0) {
        INFO("sampling " << sampling_mode_name(mode) << " epoch " << epoch << " ranks " << w.size);
        check_each_sample_once(g, n, all);
      }
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (w.rank == 0) fs::remove_all(dir.parent_path());
}
