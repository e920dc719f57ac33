// Manifest I/O, the shard writer and the split reader.
#include "data/dataset.hpp"

#include <cstdio>
#include <filesystem>

#include "core/checked.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/partition.hpp"
#include "core/sha256.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace hpcnn::data {

const char* task_name(Task task) { return task == Task::kClassification ? "classification" : "regression"; }
const char* sample_type_name(SampleType type) { return type == SampleType::kUInt8 ? "uint8" : "float32"; }
size_t sample_type_size(SampleType type) { return type == SampleType::kUInt8 ? 1 : 4; }

int64_t SplitInfo::num_samples() const {
  int64_t n = 0;
  for (const ShardInfo& s : shards) n += s.num_samples;
  return n;
}

const SplitInfo& Manifest::split(const std::string& split_name) const {
  auto it = splits.find(split_name);
  if (it == splits.end()) {
    std::string have;
    for (const auto& [k, v] : splits) have += (have.empty() ? "" : ", ") + k;
    HPCNN_THROW("dataset '", name, "' has no split '", split_name, "' (it has: ", have, ")");
  }
  return it->second;
}

json Manifest::to_json() const {
  json j;
  j["format"] = "hpcnn-dataset";
  j["version"] = kManifestVersion;
  j["name"] = name;
  j["source"] = source;
  j["task"] = task_name(task);
  j["sample_dtype"] = sample_type_name(sample_type);
  j["sample_shape"] = {sample_shape[0], sample_shape[1], sample_shape[2]};
  j["layout"] = "NCHW";
  if (task == Task::kClassification) {
    j["num_classes"] = num_classes;
    j["class_names"] = class_names;
  } else {
    j["target_dim"] = target_dim;
    j["target_description"] = target_description;
  }
  j["generator"] = generator;
  json splits_json = json::object();
  for (const auto& [split_name, split] : splits) {
    json shards = json::array();
    for (const ShardInfo& s : split.shards) {
      shards.push_back(
          {{"file", s.file}, {"num_samples", s.num_samples}, {"first_index", s.first_index}, {"sha256", s.sha256}});
    }
    splits_json[split_name] = {{"num_samples", split.num_samples()}, {"shards", shards}};
  }
  j["splits"] = splits_json;
  return j;
}

Manifest Manifest::from_json(const json& j, const std::string& origin) {
  Manifest m;
  try {
    HPCNN_CHECK(j.value("format", "") == "hpcnn-dataset", origin, ": not an hpcnn dataset manifest");
    const int version = j.at("version").get<int>();
    HPCNN_CHECK(version == kManifestVersion, origin, ": unsupported manifest version ", version);
    m.name = j.at("name").get<std::string>();
    m.source = j.value("source", "");
    const std::string task = j.at("task").get<std::string>();
    HPCNN_CHECK(task == "classification" || task == "regression", origin, ": unknown task '", task, "'");
    m.task = task == "classification" ? Task::kClassification : Task::kRegression;
    const std::string dtype = j.at("sample_dtype").get<std::string>();
    HPCNN_CHECK(dtype == "uint8" || dtype == "float32", origin, ": unsupported sample_dtype '", dtype, "'");
    m.sample_type = dtype == "uint8" ? SampleType::kUInt8 : SampleType::kFloat32;
    // Every size is bounded (docs/formats.md, "Manifest limits") before
    // anything is sized by it: a hand-edited num_classes of 2^31 once made
    // `data inspect` allocate gigabytes for its histogram.
    const auto shape = j.at("sample_shape").get<std::vector<int64_t>>();
    HPCNN_CHECK(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0, origin,
                ": sample_shape must be three positive sizes (C, H, W)");
    checked_mul(checked_mul(shape[0], shape[1], cat(origin, ": sample_shape"), kMaxSampleElements), shape[2],
                cat(origin, ": sample_shape (C x H x W)"), kMaxSampleElements);
    m.sample_shape = {shape[0], shape[1], shape[2]};
    if (m.task == Task::kClassification) {
      const int64_t classes = j.at("num_classes").get<int64_t>();
      HPCNN_CHECK(classes >= 1 && classes <= kMaxClasses, origin, ": num_classes is ", classes, " (expected 1..",
                  kMaxClasses, ")");
      m.num_classes = static_cast<int>(classes);
      m.class_names = j.value("class_names", std::vector<std::string>{});
      HPCNN_CHECK(m.class_names.size() <= static_cast<size_t>(m.num_classes), origin, ": ", m.class_names.size(),
                  " class_names for ", m.num_classes, " classes");
    } else {
      const int64_t dim = j.at("target_dim").get<int64_t>();
      HPCNN_CHECK(dim >= 1 && dim <= kMaxTargetDim, origin, ": target_dim is ", dim, " (expected 1..", kMaxTargetDim,
                  ")");
      m.target_dim = static_cast<int>(dim);
      m.target_description = j.value("target_description", "");
    }
    m.generator = j.value("generator", json());
    const json& splits = j.at("splits");
    HPCNN_CHECK(splits.is_object() && splits.size() <= kMaxSplits, origin, ": splits must be an object of at most ",
                kMaxSplits, " splits");
    for (const auto& [split_name, split_json] : splits.items()) {
      SplitInfo split;
      int64_t expected_first = 0;
      const json& shards = split_json.at("shards");
      HPCNN_CHECK(shards.is_array() && shards.size() <= kMaxShards, origin, ": split '", split_name,
                  "' must list at most ", kMaxShards, " shards");
      for (const json& s : shards) {
        ShardInfo shard{s.at("file").get<std::string>(), s.at("num_samples").get<int64_t>(),
                        s.at("first_index").get<int64_t>(), s.at("sha256").get<std::string>()};
        HPCNN_CHECK(!shard.file.empty() && shard.file != "." && shard.file != ".." &&
                        shard.file.find('/') == std::string::npos && shard.file.find('\0') == std::string::npos,
                    origin, ": shard file '", shard.file, "' must be a plain file name");
        HPCNN_CHECK(shard.num_samples > 0 && shard.first_index == expected_first, origin, ": shard '", shard.file,
                    "' does not continue split '", split_name, "' (first_index ", shard.first_index, ", expected ",
                    expected_first, ")");
        expected_first = checked_add(expected_first, shard.num_samples,
                                     cat(origin, ": split '", split_name, "': num_samples"), kMaxSplitSamples);
        split.shards.push_back(std::move(shard));
      }
      HPCNN_CHECK(!split.shards.empty(), origin, ": split '", split_name, "' has no shards");
      // The split's own count, when given, must agree with its shards'.
      if (split_json.contains("num_samples")) {
        const int64_t claimed = split_json.at("num_samples").get<int64_t>();
        HPCNN_CHECK(claimed == expected_first, origin, ": split '", split_name, "' claims ", claimed,
                    " samples but its shards hold ", expected_first);
      }
      m.splits[split_name] = std::move(split);
    }
  } catch (const json::exception& e) {
    HPCNN_THROW(origin, ": malformed manifest (", e.what(), ")");
  }
  return m;
}

Manifest load_manifest(const fs::path& dir) {
  HPCNN_CHECK(fs::is_directory(dir), dir.string(), ": not a dataset directory (no such directory)");
  const fs::path path = dir / kManifestName;
  HPCNN_CHECK(fs::exists(path), dir.string(), ": not a dataset directory (", kManifestName, " is missing)");
  const std::string text = read_text_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    HPCNN_THROW(path.string(), ": malformed manifest (", e.what(), ")");
  }
  return Manifest::from_json(j, path.string());
}

void save_manifest(const fs::path& dir, const Manifest& manifest) {
  // Names given on the command line may hold bytes that are not UTF-8: U+FFFD, not a throw.
  write_file_atomic(dir / kManifestName, manifest.to_json().dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

void require_replaceable_dataset(const fs::path& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) return;
  HPCNN_CHECK(fs::is_directory(st), dir.string(), ": exists and is not a directory; --force replaces only datasets");
  if (fs::is_empty(dir, ec) && !ec) return;
  const fs::path manifest = dir / kManifestName;
  bool ours = false;
  if (fs::is_regular_file(manifest, ec)) {
    try {
      const json j = json::parse(read_text_file(manifest));
      ours = j.is_object() && j.value("format", "") == "hpcnn-dataset";
    } catch (const std::exception&) {
      ours = false;
    }
  }
  HPCNN_CHECK(ours, dir.string(),
              ": exists and is not an hpcnn dataset (no manifest.json with format \"hpcnn-dataset\"); --force "
              "replaces only datasets: remove it yourself or choose another --out");
}

void verify_checksums(const fs::path& dir, const Manifest& manifest, const std::vector<std::string>& splits) {
  for (const std::string& split_name : splits) {
    const SplitInfo& split = manifest.split(split_name);
    for (size_t s = 0; s < split.shards.size(); ++s) {
      const ShardInfo& info = split.shards[s];
      const fs::path path = dir / info.file;
      HPCNN_CHECK(fs::is_regular_file(path), path.string(), ": shard ", s, " of split '", split_name, "' is missing");
      const std::string digest = sha256_file(path);
      HPCNN_CHECK(digest == info.sha256, path.string(), ": shard ", s, " of split '", split_name,
                  "' is damaged: SHA-256 ", digest.substr(0, 16), "..., manifest says ", info.sha256.substr(0, 16),
                  "... (hpcnn data verify ", dir.string(), " checks every shard)");
    }
  }
}

std::string shard_file_name(const std::string& split, int index, int count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.h5", index, count);
  return split + buf;
}

void write_split(const fs::path& dir, Manifest& manifest, const std::string& split, int64_t num_samples,
                 const WriteOptions& options, const BlockFiller& fill,
                 const std::function<void(int64_t, int64_t)>& progress) {
  HPCNN_CHECK(num_samples > 0, "split '", split, "' has no samples");
  HPCNN_CHECK(options.num_shards >= 1, "number of shards must be >= 1");
  HPCNN_CHECK(options.num_shards <= num_samples, "cannot cut ", num_samples, " samples of split '", split, "' into ",
              options.num_shards, " shards (every shard needs a sample)");
  const int64_t elems = manifest.sample_elements();
  const bool u8 = manifest.sample_type == SampleType::kUInt8;
  const bool classification = manifest.task == Task::kClassification;
  const int64_t tdim = classification ? 0 : manifest.target_dim;
  const std::vector<hsize_t> shape_tail{static_cast<hsize_t>(manifest.sample_shape[0]),
                                        static_cast<hsize_t>(manifest.sample_shape[1]),
                                        static_cast<hsize_t>(manifest.sample_shape[2])};

  std::vector<uint8_t> buf_u8;
  std::vector<float> buf_f32;
  std::vector<int32_t> labels;
  std::vector<float> targets;

  SplitInfo info;
  int64_t done = 0;
  for (int s = 0; s < options.num_shards; ++s) {
    const auto [first, last] = block_range(num_samples, s, options.num_shards);
    const int64_t n = last - first;
    const std::string file_name = shard_file_name(split, s, options.num_shards);
    const fs::path final_path = dir / file_name;
    const fs::path tmp_path = dir / (file_name + ".tmp");
    {
      h5::File file = h5::File::create(tmp_path);
      std::vector<hsize_t> dims{static_cast<hsize_t>(n)};
      dims.insert(dims.end(), shape_tail.begin(), shape_tail.end());
      h5::Dataset samples =
          file.create_dataset("samples", u8 ? h5::ElementType::kUInt8 : h5::ElementType::kFloat32, dims,
                              static_cast<hsize_t>(options.chunk_samples), options.deflate_level);
      h5::Dataset answers =
          classification ? file.create_dataset("labels", h5::ElementType::kInt32, {static_cast<hsize_t>(n)},
                                               static_cast<hsize_t>(options.chunk_samples) * 16, options.deflate_level)
                         : file.create_dataset("targets", h5::ElementType::kFloat32,
                                               {static_cast<hsize_t>(n), static_cast<hsize_t>(tdim)},
                                               static_cast<hsize_t>(options.chunk_samples) * 16, options.deflate_level);
      for (int64_t b = first; b < last; b += options.block_samples) {
        const int64_t count = std::min(options.block_samples, last - b);
        SampleBlock block;
        block.first_index = b;
        block.count = count;
        if (u8) {
          buf_u8.assign(static_cast<size_t>(count * elems), 0);
          block.samples_u8 = buf_u8;
        } else {
          buf_f32.assign(static_cast<size_t>(count * elems), 0.0f);
          block.samples_f32 = buf_f32;
        }
        if (classification) {
          labels.assign(static_cast<size_t>(count), -1);
          block.labels = labels;
        } else {
          targets.assign(static_cast<size_t>(count * tdim), 0.0f);
          block.targets = targets;
        }
        fill(block);
        const auto row = static_cast<hsize_t>(b - first);
        if (u8) {
          samples.write_rows(row, static_cast<hsize_t>(count), h5::ElementType::kUInt8, buf_u8.data());
        } else {
          samples.write_rows(row, static_cast<hsize_t>(count), h5::ElementType::kFloat32, buf_f32.data());
        }
        if (classification) {
          for (int32_t label : labels) {
            HPCNN_CHECK(label >= 0 && label < manifest.num_classes, "label ", label, " out of range [0, ",
                        manifest.num_classes, ") in split '", split, "'");
          }
          answers.write_rows(row, static_cast<hsize_t>(count), h5::ElementType::kInt32, labels.data());
        } else {
          answers.write_rows(row, static_cast<hsize_t>(count), h5::ElementType::kFloat32, targets.data());
        }
        done += count;
        if (progress) progress(done, num_samples);
      }
      file.set_attribute("format", std::string("hpcnn-shard"));
      file.set_attribute("version", int64_t{kManifestVersion});
      file.set_attribute("dataset", manifest.name);
      file.set_attribute("split", split);
      file.set_attribute("task", std::string(task_name(manifest.task)));
      file.set_attribute("shard_index", int64_t{s});
      file.set_attribute("num_shards", int64_t{options.num_shards});
      file.set_attribute("first_index", first);
      file.set_attribute("num_samples", n);
      file.flush();
      file.close();
    }
    rename_into_place(tmp_path, final_path);
    info.shards.push_back({file_name, n, first, sha256_file(final_path)});
  }
  manifest.splits[split] = std::move(info);
}

// ---- SplitReader ---------------------------------------------------------

struct SplitReader::OpenShard {
  h5::File file;
  h5::Dataset samples;
  h5::Dataset answers;
  // Filled by preload(): the whole shard in memory.
  bool cached = false;
  std::vector<uint8_t> samples_u8;
  std::vector<float> samples_f32;
  std::vector<int32_t> labels;
  std::vector<float> targets;
};

struct SplitReader::Block {
  int shard = 0;
  int64_t index = 0;  ///< block number within the shard
  int64_t rows = 0;
  std::vector<uint8_t> samples_u8;
  std::vector<float> samples_f32;
  std::vector<int32_t> labels;
  std::vector<float> targets;
};

SplitReader::SplitReader(fs::path dir, Manifest manifest, std::string split, bool scale_uint8)
    : dir_(std::move(dir)), manifest_(std::move(manifest)), split_(std::move(split)), scale_uint8_(scale_uint8) {
  const SplitInfo& info = manifest_.split(split_);
  num_samples_ = info.num_samples();
  open_.resize(info.shards.size());
}

SplitReader::~SplitReader() = default;
SplitReader::SplitReader(SplitReader&&) noexcept = default;
SplitReader& SplitReader::operator=(SplitReader&&) noexcept = default;

SplitReader::OpenShard& SplitReader::shard(int s) {
  auto& slot = open_[static_cast<size_t>(s)];
  if (slot) return *slot;
  const ShardInfo& info = manifest_.split(split_).shards[static_cast<size_t>(s)];
  const fs::path path = dir_ / info.file;
  h5::File file = h5::File::open_read(path, chunk_cache_bytes_);
  const bool classification = manifest_.task == Task::kClassification;
  h5::Dataset samples = file.open_dataset("samples");
  h5::Dataset answers = file.open_dataset(classification ? "labels" : "targets");
  // The shard must be what write_split makes: chunked datasets. Other layouts
  // (compact, contiguous) are never written by hpcnn, and reading damaged
  // compact data crashes libhdf5 1.10 itself (tests/fuzz/fuzz_shard).
  for (const h5::Dataset* d : {&samples, &answers}) {
    HPCNN_CHECK(d->is_chunked(), path.string(), ": ", d->description(), " is not chunked (not written by hpcnn)");
  }
  // The shard must be what the manifest says it is.
  const auto dims = samples.dims();
  const std::vector<hsize_t> expected{
      static_cast<hsize_t>(info.num_samples), static_cast<hsize_t>(manifest_.sample_shape[0]),
      static_cast<hsize_t>(manifest_.sample_shape[1]), static_cast<hsize_t>(manifest_.sample_shape[2])};
  auto show = [](const std::vector<hsize_t>& d) {
    std::string text = "(";
    for (size_t i = 0; i < d.size(); ++i) text += (i ? ", " : "") + std::to_string(d[i]);
    return text + ")";
  };
  HPCNN_CHECK(dims == expected, path.string(), ": samples have shape ", show(dims), ", manifest says ", show(expected));
  const h5::ElementType want =
      manifest_.sample_type == SampleType::kUInt8 ? h5::ElementType::kUInt8 : h5::ElementType::kFloat32;
  HPCNN_CHECK(samples.stored_type() == want, path.string(), ": samples are ",
              h5::element_type_name(samples.stored_type()), ", manifest says ",
              sample_type_name(manifest_.sample_type));
  const auto adims = answers.dims();
  HPCNN_CHECK(!adims.empty() && adims[0] == static_cast<hsize_t>(info.num_samples), path.string(), ": ",
              classification ? "labels" : "targets", " have ", adims.empty() ? 0 : adims[0], " rows, expected ",
              info.num_samples);
  if (!classification) {
    HPCNN_CHECK(adims.size() == 2 && adims[1] == static_cast<hsize_t>(manifest_.target_dim), path.string(),
                ": targets must be (N, ", manifest_.target_dim, ")");
  }
  slot = std::make_unique<OpenShard>(
      OpenShard{std::move(file), std::move(samples), std::move(answers), false, {}, {}, {}, {}});
  return *slot;
}

std::pair<int, int64_t> SplitReader::locate(int64_t index) const {
  HPCNN_CHECK(index >= 0 && index < num_samples_, "sample index ", index, " out of range [0, ", num_samples_,
              ") of split '", split_, "'");
  const auto& shards = manifest_.split(split_).shards;
  // Shards are consecutive: binary search on first_index.
  auto it = std::upper_bound(shards.begin(), shards.end(), index,
                             [](int64_t i, const ShardInfo& s) { return i < s.first_index; });
  const auto s = static_cast<int>(std::distance(shards.begin(), it)) - 1;
  return {s, index - shards[static_cast<size_t>(s)].first_index};
}

void SplitReader::read(std::span<const int64_t> indices, Batch& out) {
  const int64_t elems = manifest_.sample_elements();
  const bool classification = manifest_.task == Task::kClassification;
  const int64_t tdim = classification ? 0 : manifest_.target_dim;
  const auto n = static_cast<int64_t>(indices.size());
  out.count = n;
  out.indices.assign(indices.begin(), indices.end());
  out.samples.resize(static_cast<size_t>(n * elems));
  if (classification) {
    out.labels.resize(static_cast<size_t>(n));
    out.targets.clear();
  } else {
    out.targets.resize(static_cast<size_t>(n * tdim));
    out.labels.clear();
  }
  std::vector<uint8_t> raw;
  int64_t i = 0;
  while (i < n) {
    // Extend a run of consecutive indices inside one shard.
    const auto [s, row] = locate(indices[static_cast<size_t>(i)]);
    const ShardInfo& info = manifest_.split(split_).shards[static_cast<size_t>(s)];
    int64_t run = 1;
    while (i + run < n && indices[static_cast<size_t>(i + run)] == indices[static_cast<size_t>(i)] + run &&
           row + run < info.num_samples) {
      ++run;
    }
    OpenShard& sh = shard(s);
    float* dst = out.samples.data() + i * elems;
    if (sh.cached) {
      const float scale = scale_uint8_ ? kUint8InputScale : 1.0f;
      const auto first = static_cast<size_t>(row * elems), count = static_cast<size_t>(run * elems);
      if (manifest_.sample_type == SampleType::kUInt8) {
        uint8_to_input(sh.samples_u8.data() + first, count, dst, scale);
      } else {
        std::copy_n(sh.samples_f32.begin() + static_cast<std::ptrdiff_t>(first), count, dst);
      }
      if (classification) {
        std::copy_n(sh.labels.begin() + row, run, out.labels.begin() + i);
      } else {
        std::copy_n(sh.targets.begin() + row * tdim, run * tdim, out.targets.begin() + i * tdim);
      }
      i += run;
      continue;
    }
    if (block_cache_max_ > 0) {
      // One sample at a time out of its cached block.
      const Block& bl = block(s, row / kBlockRows);
      const int64_t r = row % kBlockRows;
      if (manifest_.sample_type == SampleType::kUInt8) {
        uint8_to_input(bl.samples_u8.data() + r * elems, static_cast<size_t>(elems), dst,
                       scale_uint8_ ? kUint8InputScale : 1.0f);
      } else {
        std::copy_n(bl.samples_f32.begin() + r * elems, elems, dst);
      }
      if (classification) {
        out.labels[static_cast<size_t>(i)] = bl.labels[static_cast<size_t>(r)];
      } else {
        std::copy_n(bl.targets.begin() + r * tdim, tdim, out.targets.begin() + i * tdim);
      }
      ++i;
      continue;
    }
    bytes_read_ += run * bytes_per_sample();
    if (manifest_.sample_type == SampleType::kUInt8) {
      raw.resize(static_cast<size_t>(run * elems));
      sh.samples.read_rows(static_cast<hsize_t>(row), static_cast<hsize_t>(run), h5::ElementType::kUInt8, raw.data());
      uint8_to_input(raw.data(), raw.size(), dst, scale_uint8_ ? kUint8InputScale : 1.0f);
    } else {
      sh.samples.read_rows(static_cast<hsize_t>(row), static_cast<hsize_t>(run), h5::ElementType::kFloat32, dst);
    }
    if (classification) {
      sh.answers.read_rows(static_cast<hsize_t>(row), static_cast<hsize_t>(run), h5::ElementType::kInt32,
                           out.labels.data() + i);
    } else {
      sh.answers.read_rows(static_cast<hsize_t>(row), static_cast<hsize_t>(run), h5::ElementType::kFloat32,
                           out.targets.data() + i * tdim);
    }
    i += run;
  }
}

int64_t SplitReader::bytes_per_sample() const {
  return manifest_.sample_elements() * static_cast<int64_t>(sample_type_size(manifest_.sample_type)) +
         (manifest_.task == Task::kClassification ? 4 : 4 * manifest_.target_dim);
}

int64_t SplitReader::preload_bytes(std::span<const int> shards) const {
  const auto& info = manifest_.split(split_).shards;
  int64_t bytes = 0;
  for (int s : shards) bytes += info[static_cast<size_t>(s)].num_samples * bytes_per_sample();
  return bytes;
}

void SplitReader::set_block_cache(int64_t max_bytes) {
  block_cache_max_ = std::max<int64_t>(max_bytes, 0);
  if (block_cache_max_ > 0) chunk_cache_bytes_ = size_t{1} << 20;  // blocks are read whole: no need to cache chunks
  evict_blocks(block_cache_max_, 0);
}

void SplitReader::evict_blocks(int64_t max_bytes, size_t keep) {
  while (blocks_.size() > keep && block_cache_bytes_ > max_bytes) {
    block_cache_bytes_ -= blocks_.front()->rows * bytes_per_sample();
    blocks_.erase(blocks_.begin());
  }
}

const SplitReader::Block& SplitReader::block(int s, int64_t b) {
  for (size_t k = blocks_.size(); k-- > 0;) {  // most recently used last
    if (blocks_[k]->shard == s && blocks_[k]->index == b) {
      if (k + 1 != blocks_.size())
        std::rotate(blocks_.begin() + static_cast<std::ptrdiff_t>(k),
                    blocks_.begin() + static_cast<std::ptrdiff_t>(k) + 1, blocks_.end());
      return *blocks_.back();
    }
  }
  OpenShard& sh = shard(s);
  const int64_t shard_rows = manifest_.split(split_).shards[static_cast<size_t>(s)].num_samples;
  auto bl = std::make_unique<Block>();
  bl->shard = s;
  bl->index = b;
  const int64_t first = b * kBlockRows;
  bl->rows = std::min(kBlockRows, shard_rows - first);
  HPCNN_CHECK(bl->rows > 0, "block ", b, " of shard ", s, " is past its end");
  const auto row0 = static_cast<hsize_t>(first), rows = static_cast<hsize_t>(bl->rows);
  const auto elems = static_cast<size_t>(manifest_.sample_elements());
  if (manifest_.sample_type == SampleType::kUInt8) {
    bl->samples_u8.resize(rows * elems);
    sh.samples.read_rows(row0, rows, h5::ElementType::kUInt8, bl->samples_u8.data());
  } else {
    bl->samples_f32.resize(rows * elems);
    sh.samples.read_rows(row0, rows, h5::ElementType::kFloat32, bl->samples_f32.data());
  }
  if (manifest_.task == Task::kClassification) {
    bl->labels.resize(rows);
    sh.answers.read_rows(row0, rows, h5::ElementType::kInt32, bl->labels.data());
  } else {
    bl->targets.resize(rows * static_cast<size_t>(manifest_.target_dim));
    sh.answers.read_rows(row0, rows, h5::ElementType::kFloat32, bl->targets.data());
  }
  const int64_t bytes = bl->rows * bytes_per_sample();
  bytes_read_ += bytes;
  block_cache_bytes_ += bytes;
  blocks_.push_back(std::move(bl));
  evict_blocks(block_cache_max_, 1);  // never the block just read
  return *blocks_.back();
}

void SplitReader::preload(std::span<const int> shards) {
  const int64_t elems = manifest_.sample_elements();
  for (int s : shards) {
    OpenShard& sh = shard(s);
    if (sh.cached) continue;
    const auto n = static_cast<hsize_t>(manifest_.split(split_).shards[static_cast<size_t>(s)].num_samples);
    bytes_read_ += static_cast<int64_t>(n) * bytes_per_sample();
    if (manifest_.sample_type == SampleType::kUInt8) {
      sh.samples_u8.resize(static_cast<size_t>(n) * static_cast<size_t>(elems));
      sh.samples.read_rows(0, n, h5::ElementType::kUInt8, sh.samples_u8.data());
    } else {
      sh.samples_f32.resize(static_cast<size_t>(n) * static_cast<size_t>(elems));
      sh.samples.read_rows(0, n, h5::ElementType::kFloat32, sh.samples_f32.data());
    }
    if (manifest_.task == Task::kClassification) {
      sh.labels.resize(static_cast<size_t>(n));
      sh.answers.read_rows(0, n, h5::ElementType::kInt32, sh.labels.data());
    } else {
      sh.targets.resize(static_cast<size_t>(n) * static_cast<size_t>(manifest_.target_dim));
      sh.answers.read_rows(0, n, h5::ElementType::kFloat32, sh.targets.data());
    }
    sh.cached = true;
  }
}

void SplitReader::read_raw_u8(int64_t first, int64_t count, std::vector<uint8_t>& out) {
  HPCNN_CHECK(manifest_.sample_type == SampleType::kUInt8, "read_raw_u8 on a float32 dataset");
  const int64_t elems = manifest_.sample_elements();
  out.resize(static_cast<size_t>(count * elems));
  int64_t done = 0;
  while (done < count) {
    const auto [s, row] = locate(first + done);
    const ShardInfo& info = manifest_.split(split_).shards[static_cast<size_t>(s)];
    const int64_t run = std::min(count - done, info.num_samples - row);
    shard(s).samples.read_rows(static_cast<hsize_t>(row), static_cast<hsize_t>(run), h5::ElementType::kUInt8,
                               out.data() + done * elems);
    done += run;
  }
}

}  // namespace hpcnn::data
