// Fuzzes dataset manifests (data/dataset_manifest.cpp): JSON text -> Manifest with its
// limits and consistency checks, then back to JSON and through again (what
// is accepted must round-trip). Seeds: manifests written by import-idx and synth.
#include <nlohmann/json.hpp>

#include "data/dataset.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  const auto dir = fuzz::scratch_dir() / "ds";
  std::filesystem::create_directories(dir);
  fuzz::write_input(dir / data::kManifestName, data, size);
  fuzz::expect_clean([&] {
    const data::Manifest m = data::load_manifest(dir);
    const data::Manifest again = data::Manifest::from_json(m.to_json(), "round trip");
    if (again.to_json() != m.to_json()) std::abort();  // accepted once, must be stable
    for (const auto& [name, split] : m.splits) (void)split.num_samples();
  });
  return 0;
}
