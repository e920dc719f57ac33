// Loading run directories: damaged files give warnings, never wrong numbers.
#include "run_timings.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace hpcnn::merge {

namespace {
std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  while (true) {
    const size_t end = line.find(sep, begin);
    out.push_back(line.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return out;
}

bool to_int(std::string_view s, int64_t& v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool to_double(std::string_view s, double& v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(v);
}

std::string rank_file_name(int rank) { return "timing/" + timing::rank_file_stem(rank) + ".csv"; }
}  // namespace

RankTimings parse_rank_csv(std::string_view text, int rank, const std::string& file,
                           std::vector<std::string>& warnings) {
  RankTimings out;
  out.rank = rank;
  out.file = file;
  if (text.empty()) {
    warnings.push_back(cat(file, ": empty (the rank wrote no header): no steps from rank ", rank));
    return out;
  }
  if (text.back() != '\n') {
    const size_t cut = text.rfind('\n');
    const size_t dropped = cut == std::string_view::npos ? text.size() : text.size() - cut - 1;
    warnings.push_back(
        cat(file, ": cut off mid-line (last ", dropped, " bytes have no newline): partial line dropped"));
    text = cut == std::string_view::npos ? std::string_view{} : text.substr(0, cut + 1);
  }
  std::vector<std::string_view> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty() || (lines[0] != timing::kCsvHeader && lines[0] != timing::kCsvHeaderV1)) {
    warnings.push_back(cat(file, ": no timing header (expected \"", timing::kCsvHeader, "\"): file ignored"));
    return out;
  }
  const size_t columns = lines[0] == timing::kCsvHeader ? 9 : 8;

  // Rows are grouped into steps by (epoch, step); a step counts when every phase arrived
  // (allreduce_wait may be missing, see below).
  struct Pending {
    StepRecord record;
    unsigned seen = 0;
  };
  std::map<std::pair<int64_t, int64_t>, Pending> pending;
  std::vector<std::pair<int64_t, int64_t>> order;
  int64_t bad_rows = 0, foreign_rows = 0, duplicate_rows = 0;
  size_t first_bad_line = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto fields = split(lines[i], ',');
    int64_t row_rank = 0, epoch = 0, step = 0, bytes = 0, samples = 0, queue = 0;
    double start = 0, seconds = 0;
    Phase phase{};
    if (fields.size() != columns || !to_int(fields[0], row_rank) || !to_int(fields[1], epoch) ||
        !to_int(fields[2], step) || !timing::parse_phase(fields[3], phase) || !to_double(fields[4], start) ||
        !to_double(fields[5], seconds) || seconds < 0 || !to_int(fields[6], bytes) || !to_int(fields[7], samples) ||
        (columns == 9 && !to_int(fields[8], queue))) {
      if (bad_rows++ == 0) first_bad_line = i + 1;
      continue;
    }
    if (row_rank != rank) {
      ++foreign_rows;
      continue;
    }
    const auto key = std::make_pair(epoch, step);
    auto [it, inserted] = pending.try_emplace(key);
    if (inserted) order.push_back(key);
    Pending& p = it->second;
    const unsigned bit = 1u << static_cast<int>(phase);
    if ((p.seen & bit) != 0) {
      ++duplicate_rows;
      continue;
    }
    p.seen |= bit;
    p.record.epoch = epoch;
    p.record.step = step;
    p.record.start[static_cast<size_t>(phase)] = start;
    p.record.seconds[static_cast<size_t>(phase)] = seconds;
    if (phase == Phase::kAllreduceWait) p.record.has_wait = true;
    if (phase == Phase::kStep) {
      p.record.bytes = bytes;
      p.record.samples = samples;
    }
    if (phase == Phase::kData) {
      p.record.data_bytes = bytes;
      p.record.queue = queue;
    }
  }
  if (bad_rows > 0) {
    warnings.push_back(cat(file, ": ", bad_rows, " malformed row(s) ignored (first at line ", first_bad_line, ")"));
  }
  if (foreign_rows > 0) {
    warnings.push_back(cat(file, ": ", foreign_rows, " row(s) name a rank other than ", rank, ": ignored"));
  }
  if (duplicate_rows > 0) {
    warnings.push_back(cat(file, ": ", duplicate_rows, " repeated (epoch, step, phase) row(s): first kept"));
  }
  int64_t incomplete = 0;
  // allreduce_wait and allgather are optional: files from before they existed lack them (0 s).
  const unsigned optional =
      (1u << static_cast<int>(Phase::kAllreduceWait)) | (1u << static_cast<int>(Phase::kAllgather));
  const unsigned all = ((1u << kNumPhases) - 1) & ~optional;
  for (const auto& key : order) {
    const Pending& p = pending.at(key);
    if ((p.seen & all) == all) {
      out.steps.push_back(p.record);
    } else {
      ++incomplete;
    }
  }
  if (incomplete > 0) {
    warnings.push_back(cat(file, ": ", incomplete, " step(s) missing some phases: dropped"));
  }
  return out;
}

RunTimings load_run(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  RunTimings run;
  run.dir = dir;
  HPCNN_CHECK(fs::is_directory(dir), dir.string(), ": not a directory");
  const fs::path timing_dir = dir / "timing";
  HPCNN_CHECK(fs::is_directory(timing_dir), dir.string(),
              ": no timing/ folder (is this a run directory written by hpcnn train?)");

  int declared_world = 0;
  const fs::path manifest = dir / "run.json";
  if (fs::exists(manifest)) {
    try {
      run.run = nlohmann::json::parse(read_text_file(manifest));
      HPCNN_CHECK(run.run.is_object(), "not a JSON object");
      // A float (1e30) or a string is not a rank count: nlohmann's conversion of
      // an out-of-range float is undefined behaviour (found by fuzz_run_json).
      const auto& w = run.run.contains("world_size") ? run.run["world_size"] : nlohmann::json(0);
      HPCNN_CHECK(w.is_number_integer(), "world_size is not an integer");
      const int64_t world = w.get<int64_t>();
      if (world < 0 || world > kMaxWorldSize) {
        run.warnings.push_back(cat("run.json: world_size ", world, " is outside 0..", kMaxWorldSize,
                                   ": rank count taken from the timing files"));
      } else {
        declared_world = static_cast<int>(world);
      }
    } catch (const std::exception& e) {
      run.warnings.push_back(cat("run.json: unreadable (", e.what(), "): rank count taken from the timing files"));
      run.run = nlohmann::json::object();
    }
  } else {
    run.warnings.push_back("run.json: missing: rank count taken from the timing files");
  }
  // Runs written before run.json recorded a status have none: nothing to say.
  if (run.run.contains("status") && run.run["status"].is_string() && run.run["status"] != "complete") {
    const std::string status = run.run["status"].get<std::string>();
    const std::string detail = run.run.contains("status_detail") && run.run["status_detail"].is_string()
                                   ? run.run["status_detail"].get<std::string>()
                                   : std::string();
    run.warnings.push_back(cat("run.json: the run did not complete (status ", status,
                               detail.empty() ? std::string() : ": " + detail.substr(0, 200),
                               "): the timings cover part of it"));
  }

  static const std::regex kName(R"(rank-(\d{5,})\.csv)");
  std::map<int, fs::path> files;
  for (const auto& entry : fs::directory_iterator(timing_dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, m, kName)) {
      const std::string digits = m[1].str();
      int64_t rank = -1;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), rank);
      if (ec != std::errc() || end != digits.data() + digits.size() || rank >= kMaxWorldSize) {
        run.warnings.push_back(cat("timing/", name, ": rank beyond ", kMaxWorldSize - 1, ": ignored"));
        continue;
      }
      files[static_cast<int>(rank)] = entry.path();
    }
  }
  HPCNN_CHECK(!files.empty(), timing_dir.string(), ": no rank-NNNNN.csv files");
  run.world_size = std::max(declared_world, files.rbegin()->first + 1);
  if (declared_world > 0 && files.rbegin()->first >= declared_world) {
    run.warnings.push_back(cat("timing/ has a file for rank ", files.rbegin()->first, " but run.json says ",
                               declared_world, " ranks ran"));
  }

  std::vector<std::string> hosts;
  if (run.run.contains("hosts") && run.run["hosts"].is_array()) {
    for (const auto& h : run.run["hosts"]) hosts.push_back(h.is_string() ? h.get<std::string>() : "");
  }
  std::vector<int> no_file;
  for (int r = 0; r < run.world_size; ++r) {
    const auto it = files.find(r);
    if (it == files.end()) {
      run.missing_ranks.push_back(r);
      no_file.push_back(r);
      continue;
    }
    RankTimings rank = parse_rank_csv(read_text_file(it->second), r, rank_file_name(r), run.warnings);
    if (rank.steps.empty()) {
      run.missing_ranks.push_back(r);
      run.warnings.push_back(cat(rank_file_name(r), ": no complete step: rank ", r, " left out of every statistic"));
      continue;
    }
    if (static_cast<size_t>(r) < hosts.size()) rank.host = hosts[static_cast<size_t>(r)];
    run.ranks.push_back(std::move(rank));
  }
  // One warning per missing file while they are few; one line for many (a
  // run.json claiming 10^6 ranks must not print 10^6 lines).
  constexpr size_t kListedMissing = 8;
  if (no_file.size() <= kListedMissing) {
    for (int r : no_file) {
      run.warnings.push_back(cat(rank_file_name(r), ": missing: rank ", r, " left out of every statistic"));
    }
  } else {
    run.warnings.push_back(
        cat(no_file.size(), " of ", run.world_size, " rank files missing (first: ", rank_file_name(no_file.front()),
            ", last: ", rank_file_name(no_file.back()), "): those ranks left out of every statistic"));
  }
  if (run.ranks.empty()) {
    std::string why;
    for (const std::string& w : run.warnings) why += "; " + w;
    HPCNN_THROW(dir.string(), ": no rank file holds a complete step", why);
  }
  return run;
}

}  // namespace hpcnn::merge
