// Per-rank timing writer.
#include "timing/timing.hpp"
#include "timing/chrome_trace.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace hpcnn::timing {

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kData: return "data";
    case Phase::kForward: return "forward";
    case Phase::kBackward: return "backward";
    case Phase::kAllreduce: return "allreduce";
    case Phase::kAllreduceWait: return "allreduce_wait";
    case Phase::kOptimizer: return "optimizer";
    case Phase::kAllgather: return "allgather";
    case Phase::kStep: return "step";
  }
  return "unknown";
}

bool parse_phase(std::string_view name, Phase& phase) {
  for (int i = 0; i < kNumPhases; ++i) {
    if (name == phase_name(static_cast<Phase>(i))) {
      phase = static_cast<Phase>(i);
      return true;
    }
  }
  return false;
}

std::string rank_file_stem(int rank) {
  char stem[32];
  std::snprintf(stem, sizeof stem, "rank-%05d", rank);
  return stem;
}

void add_rank_tracks(nlohmann::json& events, int rank, const std::string& label) {
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", rank}, {"args", {{"name", label}}}});
  events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", rank}, {"args", {{"sort_index", rank}}}});
  for (int p = 0; p < kNumPhases; ++p) {
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", rank},
                      {"tid", p},
                      {"args", {{"name", phase_name(static_cast<Phase>(p))}}}});
    events.push_back(
        {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", rank}, {"tid", p}, {"args", {{"sort_index", p}}}});
  }
}

nlohmann::json phase_event(int rank, Phase phase, int64_t epoch, int64_t step, double start_s, double seconds) {
  return {{"name", phase_name(phase)},
          {"ph", "X"},
          {"pid", rank},
          {"tid", static_cast<int>(phase)},
          {"ts", start_s * 1e6},
          {"dur", seconds * 1e6},
          {"args", {{"epoch", epoch}, {"step", step}}}};
}

nlohmann::json layer_event(int rank, Phase phase, int64_t epoch, int64_t step, int layer, const LayerLabel& label,
                           double start_s, double seconds) {
  return {{"name", cat(label.name, " ", phase_name(phase))},
          {"cat", "layer"},
          {"ph", "X"},
          {"pid", rank},
          {"tid", static_cast<int>(phase)},
          {"ts", start_s * 1e6},
          {"dur", seconds * 1e6},
          {"args",
           {{"epoch", epoch},
            {"step", step},
            {"layer", layer + 1},
            {"kind", label.kind},
            {"output", label.output},
            {"pass", phase_name(phase)}}}};
}

nlohmann::json trace_document(nlohmann::json events) {
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
}

namespace {
void write_all(int fd, const std::string& text, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    HPCNN_CHECK(n > 0, path.string(), ": write failed: ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}
}  // namespace

namespace {
/// The rows of an existing timing file up to `keep`, and where their time ends.
std::string kept_rows(const std::filesystem::path& path, const ResumePoint& keep, double& end_s) {
  std::string out = std::string(kCsvHeader) + "\n";
  end_s = 0;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return out;
  std::istringstream in(read_text_file(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    long long rank = 0, epoch = 0, step = 0;
    char phase[32];
    double start = 0, seconds = 0;
    if (std::sscanf(line.c_str(), "%lld,%lld,%lld,%31[^,],%lf,%lf", &rank, &epoch, &step, phase, &start, &seconds) !=
        6) {
      continue;  // a torn last line of a killed writer (cannot happen with one write per step, but cheap)
    }
    if (epoch > keep.epoch || (epoch == keep.epoch && step > keep.step)) continue;
    out += line + (std::count(line.begin(), line.end(), ',') == 7 ? ",0\n" : "\n");  // a file from before `queue`
    end_s = std::max(end_s, start + seconds);
  }
  return out;
}
}  // namespace

RankTimingWriter::RankTimingWriter(const std::filesystem::path& csv_path, int rank, std::filesystem::path trace_path,
                                   std::optional<ResumePoint> resume)
    : rank_(rank), csv_path_(csv_path), trace_path_(std::move(trace_path)) {
  std::filesystem::create_directories(csv_path.parent_path());
  if (resume) {
    write_file_atomic(csv_path, kept_rows(csv_path, *resume, offset_s_));
    fd_ = ::open(csv_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    HPCNN_CHECK(fd_ >= 0, csv_path.string(), ": cannot open: ", open_error(errno));
  } else {
    fd_ = ::open(csv_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    HPCNN_CHECK(fd_ >= 0, csv_path.string(), ": cannot create: ", open_error(errno));
    write_all(fd_, std::string(kCsvHeader) + "\n", csv_path_);
  }
  t0_ = std::chrono::steady_clock::now();
}

RankTimingWriter::~RankTimingWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void RankTimingWriter::start_clock() { t0_ = std::chrono::steady_clock::now(); }

double RankTimingWriter::now() const {
  return offset_s_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void RankTimingWriter::record(int64_t epoch, int64_t step, Phase phase, double start_s, double seconds, int64_t bytes,
                              int64_t samples, int64_t queue) {
  char line[192];
  std::snprintf(line, sizeof line, "%d,%lld,%lld,%s,%.6f,%.6f,%lld,%lld,%lld\n", rank_, static_cast<long long>(epoch),
                static_cast<long long>(step), phase_name(phase), start_s, seconds, static_cast<long long>(bytes),
                static_cast<long long>(samples), static_cast<long long>(queue));
  pending_ += line;
  if (!trace_path_.empty()) events_.push_back({phase, epoch, step, start_s, seconds});
}

void RankTimingWriter::set_layers(std::vector<LayerLabel> layers) { layers_ = std::move(layers); }

void RankTimingWriter::record_layer(int64_t epoch, int64_t step, Phase phase, int layer, double start_s,
                                    double seconds) {
  if (trace_path_.empty()) return;
  HPCNN_CHECK(layer >= 0 && static_cast<size_t>(layer) < layers_.size(), "timing: layer ", layer, " of ",
              layers_.size(), " (set_layers first)");
  HPCNN_CHECK(phase == Phase::kForward || phase == Phase::kBackward, "timing: a layer event in phase ",
              phase_name(phase));
  layer_events_.push_back({phase, layer, epoch, step, start_s, seconds});
}

void RankTimingWriter::end_step() {
  if (pending_.empty()) return;
  write_all(fd_, pending_, csv_path_);  // one write: whole rows or none
  pending_.clear();
}

void RankTimingWriter::finish() {
  end_step();
  if (trace_path_.empty()) return;
  nlohmann::json events = nlohmann::json::array();
  add_rank_tracks(events, rank_, cat("rank ", rank_));
  for (const Event& e : events_) events.push_back(phase_event(rank_, e.phase, e.epoch, e.step, e.start_s, e.seconds));
  for (const LayerEvent& e : layer_events_) {
    events.push_back(layer_event(rank_, e.phase, e.epoch, e.step, e.layer, layers_[static_cast<size_t>(e.layer)],
                                 e.start_s, e.seconds));
  }
  std::filesystem::create_directories(trace_path_.parent_path());
  write_file_atomic(trace_path_, trace_document(std::move(events)).dump() + "\n");
}

}  // namespace hpcnn::timing
