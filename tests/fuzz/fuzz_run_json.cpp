// Fuzzes what hpcnn-merge reads from a run directory (tools/merge): the input
// is run.json; one fixed, valid rank file sits beside it. Then the run is
// summarised, as `hpcnn-merge summary` does. Seeds: run.json files of real runs.
#include "fuzz_util.hpp"
#include "report.hpp"
#include "run_timings.hpp"
#include "summary.hpp"

namespace {
constexpr const char* kRank0 =
    "rank,epoch,step,phase,start_s,seconds,bytes,samples\n"
    "0,1,1,data,0,0.125,0,4\n0,1,1,forward,0.125,0.25,0,4\n0,1,1,backward,0.375,0.25,0,4\n"
    "0,1,1,allreduce,0.625,0.125,1000,4\n0,1,1,optimizer,0.75,0.125,0,4\n0,1,1,step,0,0.875,1000,4\n";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  static const std::filesystem::path dir = [] {
    const auto d = fuzz::scratch_dir() / "run";
    std::filesystem::create_directories(d / "timing");
    const std::string csv = kRank0;
    fuzz::write_input(d / "timing" / "rank-00000.csv", reinterpret_cast<const uint8_t*>(csv.data()), csv.size());
    return d;
  }();
  fuzz::write_input(dir / "run.json", data, size);
  fuzz::expect_clean([&] {
    const merge::RunTimings run = merge::load_run(dir);
    const merge::RunSummary s = merge::summarize(run);
    (void)merge::summary_markdown(s);
    (void)merge::json_text(merge::summary_json(s));  // as `hpcnn-merge summary` writes it
  });
  return 0;
}
