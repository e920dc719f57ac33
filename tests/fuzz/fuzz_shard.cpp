// Fuzzes the shard reader (data/dataset_reader.cpp SplitReader over data/h5.cpp):
// the input is written as the one shard of a fixed manifest (8 uint8 samples
// of 1x4x4, 4 classes) and read as training does — a batch of scattered
// indices, then a preload of the whole shard. Seed: that shard as written by
// hpcnn data import-idx.
#include "data/dataset.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  const auto dir = fuzz::scratch_dir() / "shard";
  std::filesystem::create_directories(dir);
  fuzz::write_input(dir / "train-00000-of-00001.h5", data, size);
  if (!fuzz::libhdf5_survives(dir / "train-00000-of-00001.h5", {"samples", "labels", "targets"})) {
    return 0;  // a crash inside libhdf5 alone: not hpcnn's to find
  }
  data::Manifest m;
  m.name = "fuzz";
  m.task = data::Task::kClassification;
  m.sample_type = data::SampleType::kUInt8;
  m.sample_shape = {1, 4, 4};
  m.num_classes = 4;
  m.splits["train"].shards.push_back({"train-00000-of-00001.h5", 8, 0, ""});
  fuzz::expect_clean([&] {
    data::SplitReader reader(dir, m, "train");
    data::Batch batch;
    const std::vector<int64_t> indices{5, 0, 1, 2, 7};
    reader.read(indices, batch);
    if (batch.samples.size() != 5 * 16 || batch.labels.size() != 5) std::abort();
    const std::vector<int> shards{0};
    reader.preload(shards);
    reader.read(indices, batch);
  });
  fuzz::require_no_open_hdf5();
  return 0;
}
