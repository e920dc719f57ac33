// Regression tests for the red-team findings of issue 12 ("runs that
// survive"): each case failed before its fix. NaN options, overflowing model
// strings, oversized checkpoint datasets, absurd manifests and run.json
// files, stale staging directories and --force on a directory that is not a
// dataset.
#include <hdf5.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "backend.hpp"
#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sha256.hpp"
#include "data/dataset.hpp"
#include "data/h5.hpp"
#include "data/import_idx.hpp"
#include "data/inspect.hpp"
#include "model/model.hpp"
#include "model/model_spec.hpp"
#include "run_timings.hpp"
#include "test_helpers.hpp"
#include "train/checkpoint.hpp"
#include "train/run_dir.hpp"

using namespace hpcnn;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
const Logger kQuiet(LogLevel::kQuiet);

/// Parses `args` against one double option and one int option, quietly.
double parse_rate(const cli::Args& args) {
  cli::CommandSpec spec;
  spec.name = "hpcnn toy";
  double rate = 0;
  int count = 0;
  // clang-format off
  spec.options.add_options()
      ("rate", cli::po::value<double>(&rate)->default_value(0.5), "rate")
      ("count", cli::po::value<int>(&count)->default_value(1), "count");
  // clang-format on
  cli::CommonConfig common;
  cli::Args quiet = args;
  quiet.push_back("-q");
  cli::parse(spec, quiet, common);
  return rate;
}

data::ImportIdxConfig small_import(const test::ScratchDir& dir, int shards = 1) {
  test::write_idx_pair(dir / "train-images", dir / "train-labels", 40, 4, 4, 3);
  data::ImportIdxConfig c;
  c.train_images = dir / "train-images";
  c.train_labels = dir / "train-labels";
  c.out = dir / "ds";
  c.name = "toy";
  c.shards = shards;
  return c;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

/// Replaces dataset `name` of an HDF5 file by a float32 one of `dims` (zeros),
/// with a "sha256" attribute that matches them: a crafted file passes the
/// checksum check, so what follows it is what these tests reach.
void replace_dataset(const fs::path& file, const std::string& name, const std::vector<hsize_t>& dims) {
  h5::silence_errors();
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  REQUIRE(H5Ldelete(f, name.c_str(), H5P_DEFAULT) >= 0);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t d = H5Dcreate2(f, name.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(d >= 0);
  hsize_t n = 1;
  for (hsize_t x : dims) n *= x;
  std::vector<float> zeros(n, 0.0f);
  REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data()) >= 0);
  const std::string digest = sha256_hex({reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * 4});
  const hid_t text = H5Tcopy(H5T_C_S1);
  H5Tset_size(text, digest.size());
  const hid_t scalar = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(d, "sha256", text, scalar, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  REQUIRE(H5Awrite(a, text, digest.data()) >= 0);
  H5Aclose(a);
  H5Sclose(scalar);
  H5Tclose(text);
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

/// Replaces string attribute `name` on the root of an HDF5 file.
void replace_string_attribute(const fs::path& file, const std::string& name, const std::string& value) {
  h5::silence_errors();
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  REQUIRE(H5Adelete(f, name.c_str()) >= 0);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.size());
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(f, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  REQUIRE(H5Awrite(a, type, value.data()) >= 0);
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  H5Fclose(f);
}
}  // namespace

// ---- 1. NaN and infinity ---------------------------------------------------

TEST_CASE("Hardening: NaN and inf in a floating-point option are usage errors naming it", "[cli][bad-input]") {
  CHECK(parse_rate({"--rate", "0.25"}) == 0.25);
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity"}) {
    CHECK_THROWS_WITH(parse_rate({"--rate", bad}), Contains("--rate must be a finite number"));
    CHECK_THROWS_AS(parse_rate({"--rate", bad}), UsageError);
  }
  // From an INI file too.
  test::ScratchDir dir("nan-ini");
  write_text(dir / "a.ini", "rate = nan\n");
  CHECK_THROWS_WITH(parse_rate({"--config", (dir / "a.ini").string()}), Contains("--rate must be a finite number"));
  // require_range compares; NaN compares false with everything.
  CHECK_THROWS_WITH(cli::require_range("noise", std::nan(""), 0.0, 128.0), Contains("--noise must be between"));
  CHECK_NOTHROW(cli::require_range("noise", 12.0, 0.0, 128.0));
}

// ---- 2. model strings --------------------------------------------------------

TEST_CASE("Hardening: checked_mul and checked_add name the value that overflows", "[core][bad-input]") {
  CHECK(checked_mul(46340, 46340, "x", kMaxElements) == 2147395600);
  CHECK_THROWS_WITH(checked_mul(46341, 46341, "conv weights", kMaxElements),
                    Contains("conv weights: 46341 x 46341 is too large (limit 2147483647)"));
  CHECK_THROWS_WITH(checked_mul(int64_t{1} << 62, 4, "x"), Contains("too large"));
  CHECK_THROWS_WITH(checked_add(INT64_MAX, 1, "sum"), Contains("sum: 9223372036854775807 + 1"));
  CHECK_THROWS(checked_mul(-1, 2, "negative"));
}

TEST_CASE("Hardening: model strings whose sizes overflow are refused naming the layer", "[model][bad-input]") {
  const model::Shape mnist{1, 28, 28};
  CHECK_THROWS_WITH(model::make_model("conv:4x2147483648:same relu", &mnist),
                    Contains("'conv:4x2147483648:same': kernel 2147483648") && Contains("at most 4096"));
  CHECK_THROWS_WITH(model::make_model("conv:2x3:s2147483648:same", &mnist), Contains("stride 2147483648"));
  CHECK_THROWS_WITH(model::make_model("maxpool:5000", &mnist), Contains("'maxpool:5000': size 5000"));
  CHECK_THROWS_WITH(model::make_model("conv:1000000x4096:same", &mnist),
                    Contains("layer 1 'conv:1000000x4096:same'") && Contains("weights"));
  const model::Shape wide{3, 1, 1};
  CHECK_THROWS_WITH(model::make_model("dense:1073741824", &wide),
                    Contains("layer 1 'dense:1073741824'") && Contains("1073741824 x 3"));
  // Each layer fits, the total does not.
  const model::Shape flat{32768, 1, 1};
  CHECK_THROWS_WITH(model::make_model("dense:32768 dense:32768 dense:32768", &flat), Contains("total parameter count"));
  // Input shapes: the per-sample size, before any layer.
  const model::Shape huge{65536, 65536, 2};
  CHECK_THROWS_WITH(model::make_model("flatten dense:10", &huge), Contains("input shape (65536, 65536, 2)"));
  // An output map that overflows (stride 1, same padding keeps 2^16 x 2^16).
  const model::Shape big_map{1, 65536, 65536};
  CHECK_THROWS_WITH(model::make_model("conv:2x1:same", &big_map), Contains("too many elements per sample"));
  // A batch whose activations cannot fit names the batch size (std::bad_alloc before).
  CHECK_THROWS_WITH(model::require_batch_fits(model::make_model("keras-cnn"), int64_t{1} << 40),
                    Contains("a batch of 1099511627776 samples of model 'keras-cnn'"));
  CHECK_NOTHROW(model::require_batch_fits(model::make_model("keras-cnn"), 128));
  // Just under the limit is fine: 46340^2 + 46340 < 2^31.
  const model::Shape near{46340, 1, 1};
  CHECK(model::make_model("dense:46340", &near).total_params() == 46340 * 46340LL + 46340);
}

// ---- 3. checkpoints ------------------------------------------------------------

TEST_CASE("Hardening: checkpoint datasets and attributes are checked before reading", "[checkpoint][bad-input]") {
  test::ScratchDir dir("ckpt-harden");
  auto backend = kernels::make_reference_backend();
  const model::Shape input{1, 2, 2};
  model::Model net(model::make_model("flatten dense:3", &input), model::LossKind::kSoftmaxCrossEntropy, *backend, 1);
  model::Optimizer opt({}, *backend, net.num_params());  // Adam: /optimizer/a and /optimizer/b
  const fs::path good = dir / "good.h5";
  train::save_checkpoint(good, net, &opt, 1, 1);
  REQUIRE(train::load_checkpoint(good).params.size() == 15);
  auto variant = [&](const std::string& name) {
    const fs::path p = dir / name;
    fs::copy_file(good, p);
    return p;
  };
  SECTION("/optimizer/a longer than /params (a heap overrun before)") {
    const fs::path p = variant("a.h5");
    replace_dataset(p, "optimizer/a", {1500});
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("a.h5: /optimizer/a must be (15,)") && Contains("1500"));
  }
  SECTION("/optimizer/b two-dimensional") {
    const fs::path p = variant("b.h5");
    replace_dataset(p, "optimizer/b", {15, 4});
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("b.h5: /optimizer/b must be (15,)") && Contains("rank 2"));
  }
  SECTION("/params a scalar") {
    const fs::path p = variant("s.h5");
    replace_dataset(p, "params", {});
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("s.h5: /params must be (15,)"));
  }
  SECTION("a number attribute that is not a number names the attribute and file") {
    const fs::path p = variant("lr.h5");
    replace_string_attribute(p, "lr", "fast");
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("lr.h5: attribute 'lr' is not a finite number ('fast')"));
    replace_string_attribute(p, "lr", "nan");
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("attribute 'lr' is not a finite number"));
  }
  SECTION("a model string that disagrees with num_params") {
    const fs::path p = variant("m.h5");
    replace_string_attribute(p, "model_text", "flatten dense:1073741824");
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("m.h5: attribute 'model_text'") && Contains("too large"));
    replace_string_attribute(p, "model_text", "flatten dense:4");
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("num_params' is 15") && Contains("has 20 parameters"));
  }
  SECTION("a bad input_shape names the attribute") {
    const fs::path p = variant("i.h5");
    replace_string_attribute(p, "input_shape", "1x2");
    CHECK_THROWS_WITH(train::load_checkpoint(p), Contains("i.h5: attribute 'input_shape'"));
  }
}

// ---- 4. damaged data -------------------------------------------------------------

TEST_CASE("Hardening: verify_checksums names a damaged or missing shard", "[dataset][bad-input]") {
  test::ScratchDir dir("checksums");
  data::ImportIdxConfig c = small_import(dir, 2);
  const data::Manifest m = data::import_idx(c, kQuiet);
  CHECK_NOTHROW(data::verify_checksums(c.out, m, {"train"}));
  const fs::path shard1 = c.out / data::shard_file_name("train", 1, 2);
  SECTION("one flipped byte") {
    std::fstream f(shard1, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(shard1) / 2));
    char ch = 0;
    f.read(&ch, 1);
    ch = static_cast<char>(ch ^ 0x01);
    f.seekp(static_cast<std::streamoff>(fs::file_size(shard1) / 2));
    f.write(&ch, 1);
    f.close();
    CHECK_THROWS_WITH(data::verify_checksums(c.out, m, {"train"}),
                      Contains("train-00001-of-00002.h5: shard 1 of split 'train' is damaged"));
  }
  SECTION("a missing shard") {
    fs::remove(shard1);
    CHECK_THROWS_WITH(data::verify_checksums(c.out, m, {"train"}),
                      Contains("train-00001-of-00002.h5") && Contains("missing"));
  }
  SECTION("a split the dataset lacks") {
    CHECK_THROWS_WITH(data::verify_checksums(c.out, m, {"test"}), Contains("no split 'test'"));
  }
}

TEST_CASE("Hardening: absurd manifests are refused when loaded, naming the value", "[dataset][bad-input]") {
  test::ScratchDir dir("manifest-limits");
  data::ImportIdxConfig c = small_import(dir, 2);
  const data::Manifest m = data::import_idx(c, kQuiet);
  const nlohmann::json good = m.to_json();
  auto load = [&](const nlohmann::json& j) {
    write_text(c.out / data::kManifestName, j.dump());
    return data::load_manifest(c.out);
  };
  nlohmann::json j = good;
  j["num_classes"] = 2147483647;  // `data inspect` allocated a histogram this long
  CHECK_THROWS_WITH(load(j), Contains("num_classes is 2147483647 (expected 1..65536)"));
  j = good;
  j["num_classes"] = 1LL << 40;
  CHECK_THROWS_WITH(load(j), Contains("num_classes is 1099511627776"));
  j = good;
  j["sample_shape"] = {65536, 65536, 65536};
  CHECK_THROWS_WITH(load(j), Contains("sample_shape") && Contains("too large"));
  j = good;
  j["splits"]["train"]["shards"][1]["num_samples"] = INT64_MAX;
  CHECK_THROWS_WITH(load(j), Contains("split 'train': num_samples"));
  j = good;
  j["splits"]["train"]["num_samples"] = 41;  // the shards hold 40
  CHECK_THROWS_WITH(load(j), Contains("split 'train' claims 41 samples but its shards hold 40"));
  j = good;
  j["splits"]["train"]["shards"][0]["file"] = "..";
  CHECK_THROWS_WITH(load(j), Contains("must be a plain file name"));
  j = good;
  j["class_names"] = std::vector<std::string>(4, "x");  // 3 classes
  CHECK_THROWS_WITH(load(j), Contains("4 class_names for 3 classes"));
  CHECK_NOTHROW(load(good));
}

TEST_CASE("Hardening: verify fails when the manifest lists a different number of shards", "[dataset][bad-input]") {
  test::ScratchDir dir("shard-count");
  data::ImportIdxConfig c = small_import(dir, 2);
  data::Manifest m = data::import_idx(c, kQuiet);
  REQUIRE(data::verify_dataset(c.out, kQuiet).ok());
  // Drop the second shard from the manifest: what is left is self-consistent
  // (first_index 0, 20 samples) but is not what was written.
  m.splits["train"].shards.pop_back();
  data::save_manifest(c.out, m);
  const data::VerifyReport r = data::verify_dataset(c.out, kQuiet);
  REQUIRE(r.problems.size() == 1);
  CHECK_THAT(r.problems[0],
             Contains("train-00000-of-00002.h5") && Contains("shard 0 of 2") && Contains("shard 0 of 1"));
}

TEST_CASE("Hardening: a run.json with a huge world_size is bounded", "[merge][bad-input]") {
  test::ScratchDir dir("merge-world");
  write_text(dir / "timing/rank-00000.csv",
             "rank,epoch,step,phase,start_s,seconds,bytes,samples\n"
             "0,1,1,data,0,0.125,0,4\n0,1,1,forward,0.125,0.25,0,4\n0,1,1,backward,0.375,0.25,0,4\n"
             "0,1,1,allreduce,0.625,0.125,1000,4\n0,1,1,optimizer,0.75,0.125,0,4\n0,1,1,step,0,0.875,1000,4\n");
  write_text(dir / "run.json", "{\"format\": \"hpcnn-run\", \"world_size\": 2147483647}");
  merge::RunTimings run = merge::load_run(dir.path());
  CHECK(run.world_size == 1);
  CHECK(run.warnings.size() == 1);
  CHECK_THAT(run.warnings.at(0), Contains("world_size 2147483647 is outside 0..1048576"));
  // Within the limit but far beyond the files: one warning line, not one per rank.
  write_text(dir / "run.json", "{\"format\": \"hpcnn-run\", \"world_size\": 1000000}");
  run = merge::load_run(dir.path());
  CHECK(run.world_size == 1000000);
  CHECK(run.missing_ranks.size() == 999999);
  CHECK(run.warnings.size() == 1);
  CHECK_THAT(run.warnings.at(0), Contains("999999 of 1000000 rank files missing"));
  // A rank number too large for an int is a warning, not std::stoi's out_of_range.
  write_text(dir / "timing/rank-99999999999.csv", "");
  write_text(dir / "run.json", "{\"world_size\": 1}");
  run = merge::load_run(dir.path());
  CHECK(run.world_size == 1);
  CHECK_THAT(run.warnings.at(0), Contains("rank-99999999999.csv: rank beyond"));
}

// ---- 6. leftovers and --force -------------------------------------------------

TEST_CASE("Hardening: StagingDir removes staging directories of dead processes only", "[core]") {
  test::ScratchDir dir("staging");
  // 4194305 is above the largest pid_max Linux allows (2^22): never alive.
  const fs::path dead = dir / ".ds.partial.4194305";
  const fs::path dead_old = dir / ".ds.old.4194305";
  const fs::path live = dir / (".ds.partial." + std::to_string(getppid()));
  const fs::path other = dir / ".other.partial.4194305";
  for (const fs::path& p : {dead, dead_old, live, other}) fs::create_directories(p / "sub");
  // An old directory goes only when it holds nothing but hpcnn's files (below: one with a user's file stays).
  fs::remove_all(dead_old / "sub");
  write_text(dead_old / "manifest.json", "{}");
  {
    StagingDir staging(dir / "ds", false);
    CHECK(!fs::exists(dead));
    CHECK(!fs::exists(dead_old));
    CHECK(fs::exists(live));   // its process is alive: not ours to remove
    CHECK(fs::exists(other));  // another destination's
    staging.commit();
  }
  CHECK(fs::is_directory(dir / "ds"));
}

TEST_CASE("Hardening: --force replaces only an empty directory or an hpcnn dataset", "[dataset][bad-input]") {
  test::ScratchDir dir("force");
  data::ImportIdxConfig c = small_import(dir);
  c.force = true;
  SECTION("a directory with other files is left alone") {
    write_text(c.out / "thesis.tex", "precious");
    CHECK_THROWS_WITH(data::import_idx(c, kQuiet), Contains("ds: exists and is not an hpcnn dataset"));
    CHECK(read_text_file(c.out / "thesis.tex") == "precious");
    // A manifest.json of something else is not enough.
    write_text(c.out / "manifest.json", "{\"format\": \"npm\"}");
    CHECK_THROWS_WITH(data::import_idx(c, kQuiet), Contains("not an hpcnn dataset"));
    CHECK(fs::exists(c.out / "thesis.tex"));
  }
  SECTION("a file is left alone") {
    write_text(c.out, "a file");
    CHECK_THROWS_WITH(data::import_idx(c, kQuiet), Contains("is not a directory"));
  }
  SECTION("an empty directory and an existing dataset are replaced") {
    fs::create_directories(c.out);
    CHECK_NOTHROW(data::import_idx(c, kQuiet));
    CHECK_NOTHROW(data::import_idx(c, kQuiet));
    CHECK(data::load_manifest(c.out).split("train").num_samples() == 40);
  }
}

TEST_CASE("Hardening: a refused run directory gets no lock file or anything else written into it",
          "[long-jobs][bad-input]") {
  // issue 26.3: `train --out /` and --out onto a user's folder left a stray .lock there.
  test::ScratchDir dir("runlock");
  const fs::path mine = dir / "mine";
  write_text(mine / "notes.txt", "mine");
  CHECK_THROWS_WITH(train::RunDirectory(mine, mine / "model.h5"),
                    Contains("mine: holds files hpcnn did not write (notes.txt)"));
  CHECK_FALSE(fs::exists(mine / ".lock"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(mine)) ++entries;
  CHECK(entries == 1);
  // A file where the directory should be.
  write_text(dir / "plain", "x");
  CHECK_THROWS_WITH(train::RunDirectory(dir / "plain"), Contains("plain: exists and is not a directory"));
  // The run's own final checkpoint (--checkpoint RUN_DIR/best.h5) is not foreign.
  const fs::path run = dir / "run";
  write_text(run / "best.h5", "");
  CHECK_NOTHROW(train::RunDirectory(run, run / "best.h5"));
  CHECK(fs::exists(run / ".lock"));
}

TEST_CASE("Hardening: an output path that is a device or FIFO is refused even with --force and left as it was",
          "[core][bad-input]") {
  // issue 26.1: `train --checkpoint /dev/null` replaced the device node with an HDF5 file.
  test::ScratchDir dir("outpaths");
  const fs::path fifo = dir / "fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  OutputRules rules;
  rules.force = true;
  CHECK_THROWS_WITH(check_output_file("--checkpoint", fifo, rules), Contains("fifo: exists and is not a regular file"));
  CHECK(fs::is_fifo(fifo));
  // A character device made in the scratch directory (root only), like /dev/null (1, 3).
  const fs::path dev = dir / "null";
  if (mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) {
    CHECK_THROWS_WITH(train::check_checkpoint_path(dev, dir / "run", dir / "data", {}, true),
                      Contains("--checkpoint " + dev.string() + ": exists and is not a regular file"));
    CHECK(fs::is_character_file(dev));
  }
  CHECK_THROWS_WITH(check_output_file("--out", dir.path(), rules), Contains("is not a regular file"));
}

TEST_CASE("Hardening: an existing output file hpcnn did not write needs --force", "[checkpoint][bad-input]") {
  test::ScratchDir dir("outforeign");
  const fs::path run = dir / "run", data = dir / "data";
  write_text(dir / "thesis.tex", "precious");
  CHECK_THROWS_WITH(train::check_checkpoint_path(dir / "thesis.tex", run, data, {}, false),
                    Contains("thesis.tex: exists and is not a file hpcnn wrote: --force replaces it"));
  CHECK_NOTHROW(train::check_checkpoint_path(dir / "thesis.tex", run, data, {}, true));
  CHECK(read_text_file(dir / "thesis.tex") == "precious");  // a check writes nothing
  // hpcnn's own checkpoint, anything in the run directory, and a new file are fine.
  auto backend = kernels::make_reference_backend();
  const model::Shape input{1, 2, 2};
  model::Model net(model::make_model("flatten dense:3", &input), model::LossKind::kSoftmaxCrossEntropy, *backend, 1);
  train::save_checkpoint(dir / "old.h5", net, nullptr, 1, 1);
  CHECK(train::hpcnn_hdf5_file(dir / "old.h5"));
  CHECK_FALSE(train::hpcnn_hdf5_file(dir / "thesis.tex"));
  CHECK_NOTHROW(train::check_checkpoint_path(dir / "old.h5", run, data, {}, false));
  write_text(run / "model.h5", "left by a crash");
  CHECK_NOTHROW(train::check_checkpoint_path(run / "model.h5", run, data, {}, false));
  CHECK_NOTHROW(train::check_checkpoint_path(dir / "new.h5", run, data, {}, false));
  // Onto the dataset's shard, or onto --init-from: refused, --force or not.
  write_text(data / "train-00000-of-00001.h5", "shard");
  CHECK_THROWS_WITH(train::check_checkpoint_path(data / "train-00000-of-00001.h5", run, data, {}, true),
                    Contains("is inside " + data.string() + ", which this command reads"));
  CHECK_THROWS_WITH(train::check_checkpoint_path(dir / "old.h5", run, data, dir / "old.h5", true),
                    Contains("is also an input of this command"));
  // A text output: hpcnn's CSV header marks it as hpcnn's.
  write_text(dir / "p.csv", "index,label,predicted\n");
  OutputRules csv;
  csv.written_by_hpcnn = text_file_starting_with("index,");
  CHECK_NOTHROW(check_output_file("--predictions", dir / "p.csv", csv));
  CHECK_THROWS_WITH(check_output_file("--predictions", dir / "thesis.tex", csv), Contains("--force replaces it"));
}

TEST_CASE("Hardening: --force onto a dataset keeps the files hpcnn did not write in it", "[dataset][bad-input]") {
  // issue 26.2: `data synth ... --force` deleted NOTES.txt and mine/keep with the dataset.
  test::ScratchDir dir("forcekeep");
  data::ImportIdxConfig c = small_import(dir, 2);
  data::import_idx(c, kQuiet);
  write_text(c.out / "NOTES.txt", "notes");
  write_text(c.out / "mine" / "keep", "keep");
  c.force = true;
  c.shards = 1;  // the old two shards are hpcnn's and go
  data::import_idx(c, kQuiet);
  CHECK(read_text_file(c.out / "NOTES.txt") == "notes");
  CHECK(read_text_file(c.out / "mine" / "keep") == "keep");
  CHECK_FALSE(fs::exists(c.out / data::shard_file_name("train", 1, 2)));
  CHECK(data::load_manifest(c.out).split("train").shards.size() == 1);
  for (const auto& e : fs::directory_iterator(dir.path())) {
    CHECK(e.path().filename().string().find(".old.") == std::string::npos);  // nothing left aside
  }
}

TEST_CASE("Hardening: StagingDir names what it kept and never removes a dead run's old directory with user files",
          "[core]") {
  test::ScratchDir dir("stagingkeep");
  write_text(dir / "ds" / "manifest.json", "{}");
  write_text(dir / "ds" / "train-00000-of-00001.h5", "old shard");
  write_text(dir / "ds" / "NOTES.txt", "notes");
  // A crash between commit()'s renames leaves the user's file in .ds.old.PID.
  write_text(dir / ".ds.old.4194305" / "thesis.tex", "precious");
  write_text(dir / ".ds.old.4194306" / "manifest.json", "{}");
  StagingDir staging(dir / "ds", true);
  CHECK(fs::exists(dir / ".ds.old.4194305" / "thesis.tex"));
  CHECK_FALSE(fs::exists(dir / ".ds.old.4194306"));
  write_text(staging.path() / "manifest.json", "{\"new\": 1}");
  staging.commit();
  CHECK(staging.kept() == std::vector<std::string>{"NOTES.txt"});
  CHECK(read_text_file(dir / "ds" / "NOTES.txt") == "notes");
  CHECK_FALSE(fs::exists(dir / "ds" / "train-00000-of-00001.h5"));
  CHECK(read_text_file(dir / "ds" / "manifest.json") == "{\"new\": 1}");
}
