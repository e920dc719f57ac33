// The split reader: samples by global index, preloads and the block cache.
#include "data/dataset_reader.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;

namespace hpcnn::data {

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
