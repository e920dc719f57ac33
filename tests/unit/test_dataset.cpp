// HDF5 shard round trips, IDX import, manifests, and damaged datasets.
#include <catch2/catch.hpp>
#include <fstream>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"
#include "data/import_idx.hpp"
#include "data/inspect.hpp"
#include "fixtures.hpp"

using namespace hpcnn;
using namespace hpcnn::data;
namespace fs = std::filesystem;

namespace {
using test::kQuiet;

Manifest regression_manifest() {
  Manifest m;
  m.name = "toy-regression";
  m.task = Task::kRegression;
  m.sample_type = SampleType::kFloat32;
  m.sample_shape = {2, 3, 1};
  m.target_dim = 2;
  m.target_description = "test";
  return m;
}

/// Sample i, element e = i + e / 8; targets (i, -i).
void fill_regression(SampleBlock& b) {
  for (int64_t i = 0; i < b.count; ++i) {
    const auto g = static_cast<float>(b.first_index + i);
    for (int e = 0; e < 6; ++e) b.samples_f32[static_cast<size_t>(i * 6 + e)] = g + static_cast<float>(e) / 8.0f;
    b.targets[static_cast<size_t>(2 * i)] = g;
    b.targets[static_cast<size_t>(2 * i + 1)] = -g;
  }
}

ImportIdxConfig small_import(const test::ScratchDir& dir, uint32_t n_train, uint32_t n_test) {
  test::write_idx_pair(dir / "train-images", dir / "train-labels", n_train, 5, 4, 3);
  test::write_idx_pair(dir / "test-images", dir / "test-labels", n_test, 5, 4, 3);
  ImportIdxConfig c;
  c.train_images = dir / "train-images";
  c.train_labels = dir / "train-labels";
  c.test_images = dir / "test-images";
  c.test_labels = dir / "test-labels";
  c.out = dir / "ds";
  c.name = "toy";
  return c;
}
}  // namespace

TEST_CASE("HDF5 round trip: float32 regression shards read back exactly", "[dataset][h5]") {
  test::ScratchDir dir("roundtrip");
  Manifest m = regression_manifest();
  WriteOptions opt;
  opt.num_shards = 3;
  opt.block_samples = 4;  // several blocks per shard
  opt.chunk_samples = 3;  // chunks not aligned with blocks
  write_split(dir.path(), m, "train", 23, opt, fill_regression);
  save_manifest(dir.path(), m);

  const Manifest back = load_manifest(dir.path());
  REQUIRE(back.split("train").shards.size() == 3);
  CHECK(back.split("train").num_samples() == 23);
  CHECK(back.split("train").shards[1].first_index == 8);  // 8, 8, 7
  CHECK(back.split("train").shards[0].sha256 == sha256_file(dir / back.split("train").shards[0].file));

  SplitReader reader(dir.path(), back, "train");
  Batch batch;
  const std::vector<int64_t> idx{22, 0, 7, 8, 9, 10, 15, 16};  // crosses shard boundaries, any order
  reader.read(idx, batch);
  REQUIRE(batch.count == 8);
  for (size_t k = 0; k < idx.size(); ++k) {
    const auto g = static_cast<float>(idx[k]);
    for (int e = 0; e < 6; ++e)
      CHECK(batch.samples[k * 6 + static_cast<size_t>(e)] == g + static_cast<float>(e) / 8.0f);
    CHECK(batch.targets[2 * k] == g);
    CHECK(batch.targets[2 * k + 1] == -g);
  }
  CHECK(batch.indices == idx);
}

TEST_CASE("HDF5 shards are chunked, Fletcher32-protected and carry their attributes", "[dataset][h5]") {
  test::ScratchDir dir("attrs");
  Manifest m = regression_manifest();
  WriteOptions opt;
  opt.num_shards = 2;
  write_split(dir.path(), m, "test", 5, opt, fill_regression);
  h5::File f = h5::File::open_read(dir / shard_file_name("test", 1, 2));
  CHECK(f.open_dataset("samples").has_fletcher32());
  CHECK(f.open_dataset("targets").has_fletcher32());
  CHECK(f.open_dataset("samples").dims() == std::vector<hsize_t>{2, 2, 3, 1});
  CHECK(f.string_attribute("split") == "test");
  CHECK(f.int_attribute("first_index") == 3);
  CHECK(f.int_attribute("num_shards") == 2);
}

TEST_CASE("IDX import: pixels and labels survive byte for byte, validation comes from the end", "[dataset][import]") {
  test::ScratchDir dir("import");
  ImportIdxConfig c = small_import(dir, 50, 11);
  c.shards = 4;
  c.validation_fraction = 0.2;
  const Manifest m = import_idx(c, kQuiet);
  CHECK(m.num_classes == 3);
  CHECK(m.class_names == std::vector<std::string>{"0", "1", "2"});
  CHECK(m.split("train").num_samples() == 40);
  CHECK(m.split("validation").num_samples() == 10);
  CHECK(m.split("test").num_samples() == 11);

  SplitReader train(c.out, load_manifest(c.out), "train");
  SplitReader validation(c.out, load_manifest(c.out), "validation");
  std::vector<uint8_t> raw;
  train.read_raw_u8(0, 40, raw);
  for (int64_t i = 0; i < 40; ++i)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 4; ++x) REQUIRE(raw[static_cast<size_t>(i * 20 + y * 4 + x)] == (i * 7 + y * 3 + x) % 256);
  validation.read_raw_u8(0, 10, raw);
  CHECK(raw[0] == (40 * 7) % 256);  // validation sample 0 is training image 40
  Batch b;
  const std::vector<int64_t> idx{0, 9};
  validation.read(idx, b);
  CHECK(b.labels == std::vector<int32_t>{40 % 3, 49 % 3});
  CHECK(b.samples[0] == Approx(static_cast<float>((40 * 7) % 256) / 255.0f));
}

TEST_CASE("IDX import: bad inputs leave no output behind", "[dataset][import][bad-input]") {
  test::ScratchDir dir("import-bad");
  ImportIdxConfig c = small_import(dir, 10, 4);

  SECTION("label count differs from image count") {
    test::write_idx_pair(dir / "other-images", dir / "other-labels", 9, 5, 4, 3);
    c.train_labels = dir / "other-labels";
    CHECK_THROWS_WITH(import_idx(c, kQuiet), Catch::Contains("9 labels for 10 images"));
  }
  SECTION("truncated image file") {
    std::ifstream in(c.train_images, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes.resize(bytes.size() - 1);
    test::write_bytes(dir / "cut-images", bytes);
    c.train_images = dir / "cut-images";
    CHECK_THROWS_WITH(import_idx(c, kQuiet), Catch::Contains("cut-images") && Catch::Contains("truncated"));
  }
  SECTION("test images of another size") {
    test::write_idx_pair(dir / "big-images", dir / "big-labels", 4, 6, 4, 3);
    c.test_images = dir / "big-images";
    c.test_labels = dir / "big-labels";
    CHECK_THROWS_WITH(import_idx(c, kQuiet), Catch::Contains("differs"));
  }
  SECTION("more shards than samples") {
    c.shards = 5;  // the test split has 4 samples
    CHECK_THROWS_WITH(import_idx(c, kQuiet), Catch::Contains("into 5 shards"));
  }
  SECTION("existing output without force") {
    fs::create_directories(c.out);
    CHECK_THROWS_WITH(import_idx(c, kQuiet), Catch::Contains("already exists"));
    CHECK(fs::is_empty(c.out));
    return;
  }
  CHECK_FALSE(fs::exists(c.out));
  // No staging directory left next to it either.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find(".partial") == std::string::npos);
  }
}

TEST_CASE("Damaged datasets: each problem is named", "[dataset][bad-input]") {
  test::ScratchDir dir("damaged");
  ImportIdxConfig c = small_import(dir, 2000, 40);
  c.shards = 2;
  import_idx(c, kQuiet);
  const fs::path shard0 = c.out / shard_file_name("train", 0, 2);
  REQUIRE(verify_dataset(c.out, kQuiet).ok());

  SECTION("directory without manifest") {
    fs::remove(c.out / kManifestName);
    CHECK_THROWS_WITH(load_manifest(c.out), Catch::Contains("manifest.json is missing"));
  }
  SECTION("malformed manifest") {
    std::ofstream(c.out / kManifestName) << "{\"format\": \"hpcnn-dataset\", \"version\": 1";
    CHECK_THROWS_WITH(load_manifest(c.out), Catch::Contains("malformed manifest"));
  }
  SECTION("missing shard") {
    fs::remove(shard0);
    const VerifyReport r = verify_dataset(c.out, kQuiet);
    REQUIRE(r.problems.size() == 1);
    CHECK_THAT(r.problems[0], Catch::Contains("train-00000-of-00002.h5") && Catch::Contains("missing"));
    SplitReader reader(c.out, load_manifest(c.out), "train");
    Batch b;
    const std::vector<int64_t> idx{0};
    CHECK_THROWS_WITH(reader.read(idx, b), Catch::Contains("train-00000-of-00002.h5"));
  }
  SECTION("corrupt shard: a flipped byte in the pixel data") {
    // Find a byte of image 500 (pattern known) and flip it: Fletcher32 and SHA-256 both catch it.
    std::fstream f(shard0, std::ios::in | std::ios::out | std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::vector<char> needle;
    for (int k = 0; k < 20; ++k) needle.push_back(static_cast<char>((500 * 7 + (k / 4) * 3 + k % 4) % 256));
    const auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
    REQUIRE(it != bytes.end());
    f.seekp(std::distance(bytes.begin(), it) + 5);
    f.put(static_cast<char>(~needle[5]));
    f.close();
    const VerifyReport r = verify_dataset(c.out, kQuiet);
    REQUIRE(r.problems.size() == 1);
    CHECK_THAT(r.problems[0], Catch::Contains("train-00000-of-00002.h5") && Catch::Contains("checksum mismatch"));
    // The reader (no SHA-256 on the hot path) still refuses the chunk through Fletcher32.
    SplitReader reader(c.out, load_manifest(c.out), "train");
    Batch b;
    const std::vector<int64_t> idx{500};
    CHECK_THROWS_WITH(reader.read(idx, b), Catch::Contains("corrupt"));
  }
  SECTION("truncated shard") {
    fs::resize_file(shard0, fs::file_size(shard0) / 2);
    const VerifyReport r = verify_dataset(c.out, kQuiet);
    REQUIRE(r.problems.size() == 1);
    CHECK_THAT(r.problems[0], Catch::Contains("train-00000-of-00002.h5"));
    CHECK_THROWS_WITH(h5::File::open_read(shard0), Catch::Contains("corrupt or truncated"));
  }
  SECTION("shards swapped: valid HDF5 files, wrong checksums") {
    const fs::path shard1 = c.out / shard_file_name("train", 1, 2);
    fs::rename(shard0, dir / "tmp.h5");
    fs::rename(shard1, shard0);
    fs::rename(dir / "tmp.h5", shard1);
    const VerifyReport r = verify_dataset(c.out, kQuiet);
    CHECK(r.problems.size() == 2);
  }
}

TEST_CASE("SplitReader: preloaded shards read the same as from disk", "[dataset]") {
  test::ScratchDir dir("preload");
  Manifest m = regression_manifest();
  WriteOptions opt;
  opt.num_shards = 3;
  write_split(dir.path(), m, "train", 23, opt, fill_regression);
  save_manifest(dir.path(), m);
  SplitReader disk(dir.path(), m, "train");
  SplitReader memory(dir.path(), m, "train");
  const std::vector<int> shards{0, 2};
  CHECK(memory.preload_bytes(shards) == (8 + 7) * (6 * 4 + 2 * 4));
  memory.preload(shards);
  const std::vector<int64_t> idx{22, 0, 7, 8, 9, 15, 16, 3};
  Batch a, b;
  disk.read(idx, a);
  memory.read(idx, b);
  CHECK(a.samples == b.samples);
  CHECK(a.targets == b.targets);
  CHECK(a.indices == b.indices);
}
