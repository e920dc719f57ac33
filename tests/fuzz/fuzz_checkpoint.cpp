// Fuzzes the checkpoint loader (train/checkpoint.cpp, via the HDF5 wrappers
// of data/h5.cpp): the input is written as model.h5 and loaded as `hpcnn
// infer --checkpoint` would. HDF5's own error printing is off (h5::File does
// that). Seeds: tiny Adam and SGD checkpoints written by hpcnn train.
#include "fuzz_util.hpp"
#include "train/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hpcnn;
  const auto path = fuzz::scratch_dir() / "model.h5";
  fuzz::write_input(path, data, size);
  if (!fuzz::libhdf5_survives(path, {"params", "layers", "optimizer", "optimizer/a", "optimizer/b", "train_state",
                                     "train_state/history", "train_state/step_losses"})) {
    return 0;  // a crash inside libhdf5 alone: not hpcnn's to find
  }
  fuzz::expect_clean([&] {
    const train::Checkpoint c = train::load_checkpoint(path);
    // What the loader accepted is consistent: restore_model relies on it.
    if (c.params.empty() || (!c.optimizer_a.empty() && c.optimizer_a.size() != c.params.size()) ||
        (!c.optimizer_b.empty() && c.optimizer_b.size() != c.params.size())) {
      std::abort();
    }
  });
  fuzz::require_no_open_hdf5();
  return 0;
}
