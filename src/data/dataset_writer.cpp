// The shard writer: a split of a dataset written as HDF5 shard files.
#include "data/dataset_writer.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/partition.hpp"
#include "core/sha256.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;

namespace hpcnn::data {

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

}  // namespace hpcnn::data
