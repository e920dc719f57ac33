// Dataset summaries and verification.
#include "data/inspect.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "data/h5.hpp"

namespace fs = std::filesystem;

namespace hpcnn::data {

namespace {
/// Samples read per block: 4096, fewer for large samples (about 64 MiB of floats).
int64_t block_samples(const Manifest& m) {
  return std::clamp<int64_t>((int64_t{16} << 20) / m.sample_elements(), 1, 4096);
}

std::vector<std::string> ordered_split_names(const Manifest& m) {
  std::vector<std::string> names;
  for (const char* s : kSplitNames) {
    if (m.splits.count(s)) names.emplace_back(s);
  }
  for (const auto& [name, split] : m.splits) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}
}  // namespace

DatasetSummary inspect_dataset(const fs::path& dir) {
  DatasetSummary summary{load_manifest(dir), {}};
  const Manifest& m = summary.manifest;
  for (const std::string& name : ordered_split_names(m)) {
    SplitReader reader(dir, m, name, /*scale_uint8=*/false);
    SplitSummary s;
    s.name = name;
    s.num_samples = reader.num_samples();
    s.num_shards = static_cast<int>(m.split(name).shards.size());
    if (m.task == Task::kClassification) s.class_counts.assign(static_cast<size_t>(m.num_classes), 0);
    double sum = 0, sum_sq = 0, tsum = 0;
    s.value_min = std::numeric_limits<double>::infinity();
    s.value_max = -std::numeric_limits<double>::infinity();
    s.target_min = std::numeric_limits<double>::infinity();
    s.target_max = -std::numeric_limits<double>::infinity();
    Batch batch;
    const int64_t block = block_samples(m);
    std::vector<int64_t> indices;
    for (int64_t first = 0; first < s.num_samples; first += block) {
      const int64_t count = std::min(block, s.num_samples - first);
      indices.resize(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = first + i;
      reader.read(indices, batch);
      for (float v : batch.samples) {
        sum += v;
        sum_sq += static_cast<double>(v) * v;
        s.value_min = std::min<double>(s.value_min, v);
        s.value_max = std::max<double>(s.value_max, v);
      }
      for (int32_t l : batch.labels) {
        if (l >= 0 && l < m.num_classes) ++s.class_counts[static_cast<size_t>(l)];
      }
      for (float t : batch.targets) {
        tsum += t;
        s.target_min = std::min<double>(s.target_min, t);
        s.target_max = std::max<double>(s.target_max, t);
      }
    }
    const double n_values = static_cast<double>(s.num_samples * m.sample_elements());
    s.value_mean = sum / n_values;
    s.value_std = std::sqrt(std::max(0.0, sum_sq / n_values - s.value_mean * s.value_mean));
    if (m.task == Task::kRegression) s.target_mean = tsum / static_cast<double>(s.num_samples * m.target_dim);
    summary.splits.push_back(std::move(s));
  }
  return summary;
}

nlohmann::json DatasetSummary::to_json() const {
  nlohmann::json j = manifest.to_json();
  for (const SplitSummary& s : splits) {
    nlohmann::json& sj = j["splits"][s.name];
    sj["value_stats"] = {{"min", s.value_min}, {"max", s.value_max}, {"mean", s.value_mean}, {"std", s.value_std}};
    if (manifest.task == Task::kClassification) {
      sj["class_counts"] = s.class_counts;
    } else {
      sj["target_stats"] = {{"min", s.target_min}, {"max", s.target_max}, {"mean", s.target_mean}};
    }
  }
  return j;
}

std::string DatasetSummary::to_text() const {
  const Manifest& m = manifest;
  std::ostringstream os;
  os << "dataset      " << m.name << "\n"
     << "task         " << task_name(m.task);
  if (m.task == Task::kClassification) {
    os << " (" << m.num_classes << " classes)";
  } else {
    os << " (" << m.target_dim << " target" << (m.target_dim > 1 ? "s" : "") << ": " << m.target_description << ")";
  }
  os << "\n"
     << "samples      " << sample_type_name(m.sample_type) << " (C, H, W) = (" << m.sample_shape[0] << ", "
     << m.sample_shape[1] << ", " << m.sample_shape[2] << ")\n"
     << "source       " << m.source << "\n";
  for (const SplitSummary& s : splits) {
    os << "split " << std::left << std::setw(11) << s.name << std::right << std::setw(9) << s.num_samples
       << " samples in " << s.num_shards << " shard" << (s.num_shards == 1 ? "" : "s") << "; values min " << s.value_min
       << " max " << s.value_max << " mean " << std::setprecision(4) << s.value_mean << " std " << s.value_std
       << std::setprecision(6) << "\n";
    if (m.task == Task::kClassification) {
      for (size_t c = 0; c < s.class_counts.size(); ++c) {
        const std::string label = c < m.class_names.size() ? m.class_names[c] : std::to_string(c);
        os << "    " << std::setw(2) << c << " " << std::left << std::setw(14) << label << std::right << std::setw(8)
           << s.class_counts[c] << "\n";
      }
    } else {
      os << "    targets min " << s.target_min << " max " << s.target_max << " mean " << s.target_mean << "\n";
    }
  }
  return os.str();
}

namespace {
/// Checks one shard fully; returns a problem description or "".
std::string verify_shard(const fs::path& dir, const Manifest& m, const std::string& split, int index) {
  const ShardInfo& info = m.split(split).shards[static_cast<size_t>(index)];
  const fs::path path = dir / info.file;
  try {
    if (!fs::exists(path)) return path.string() + ": shard is missing";
    const std::string digest = sha256_file(path);
    if (digest != info.sha256) {
      return path.string() + ": checksum mismatch (SHA-256 " + digest.substr(0, 16) + "..., manifest says " +
             info.sha256.substr(0, 16) + "...)";
    }
    {
      h5::File file = h5::File::open_read(path);
      if (file.string_attribute("split") != split || file.int_attribute("first_index") != info.first_index ||
          file.int_attribute("num_samples") != info.num_samples) {
        return path.string() + ": shard attributes (split, first_index, num_samples) disagree with the manifest";
      }
      // A manifest that lists a different number of shards than were written
      // (a shard dropped or duplicated by hand) must not verify.
      const int64_t shards = static_cast<int64_t>(m.split(split).shards.size());
      if (file.int_attribute("shard_index") != index || file.int_attribute("num_shards") != shards) {
        return cat(path.string(), ": shard attributes say shard ", file.int_attribute("shard_index"), " of ",
                   file.int_attribute("num_shards"), ", the manifest lists it as shard ", index, " of ", shards);
      }
      for (const char* name : {"samples", m.task == Task::kClassification ? "labels" : "targets"}) {
        if (!file.open_dataset(name).has_fletcher32()) {
          return path.string() + ": dataset '" + name + "' has no Fletcher32 checksum filter";
        }
      }
    }
    // Read every row through the reader: shapes are checked on open and the
    // Fletcher32 filter checks every chunk.
    SplitReader reader(dir, m, split, false);
    Batch batch;
    std::vector<int64_t> indices;
    const int64_t block = block_samples(m);
    for (int64_t row = 0; row < info.num_samples; row += block) {
      const int64_t count = std::min(block, info.num_samples - row);
      indices.resize(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = info.first_index + row + i;
      reader.read(indices, batch);
      for (int32_t l : batch.labels) {
        if (l < 0 || l >= m.num_classes) {
          return path.string() + ": label " + std::to_string(l) + " out of range [0, " + std::to_string(m.num_classes) +
                 ")";
        }
      }
      for (float v : batch.samples) {
        if (!std::isfinite(v)) return path.string() + ": non-finite sample value";
      }
      for (float v : batch.targets) {
        if (!std::isfinite(v)) return path.string() + ": non-finite target value";
      }
    }
  } catch (const Error& e) {
    const std::string msg = e.message();
    return msg.rfind(path.string(), 0) == 0 ? msg : path.string() + ": " + msg;
  }
  return {};
}
}  // namespace

VerifyReport verify_dataset(const fs::path& dir, const Logger& log) {
  const Manifest m = load_manifest(dir);
  VerifyReport report;
  for (const std::string& split : ordered_split_names(m)) {
    const int n = static_cast<int>(m.split(split).shards.size());
    for (int s = 0; s < n; ++s) {
      std::string problem = verify_shard(dir, m, split, s);
      ++report.shards_checked;
      log.progress(cat("verify ", split, ": shard ", s + 1, "/", n, problem.empty() ? " ok" : " FAILED"));
      if (!problem.empty()) {
        log.end_progress();
        report.problems.push_back(std::move(problem));
      }
    }
    log.end_progress();
  }
  return report;
}

}  // namespace hpcnn::data
