// `hpcnn-merge allreduce --fit`: the cost model of src/comm/cost_model.hpp
// fitted per algorithm from bench CSVs (hpcnn bench allreduce --csv,
// hpcnn-sim --csv), with its parameters, residuals and predicted against
// measured busBw per size and rank count; and, where the CSVs hold `auto`
// rows, how far auto was from the best algorithm measured at each point.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "allreduce_compare.hpp"
#include "comm/cost_model.hpp"

namespace hpcnn::merge {

struct FitPoint {
  std::string algo;
  int ranks = 0, nodes = 0;
  int64_t bytes = 0;
  double measured_us = 0, predicted_us = 0;
  double measured_busbw = 0, predicted_busbw = 0;  ///< GB/s
};

struct AlgoFit {
  std::string algo;
  comm::CostFit fit;
};

/// auto against the best measured algorithm at one (ranks, nodes, bytes).
struct AutoPoint {
  int ranks = 0, nodes = 0;
  int64_t bytes = 0;
  double auto_us = 0, best_us = 0;
  std::string best;
  double slower() const { return best_us > 0 ? auto_us / best_us - 1 : 0; }
};

struct AllreduceFit {
  std::vector<AlgoFit> fits;     ///< modelled algorithms with enough rows
  std::vector<FitPoint> points;  ///< every row of a fitted algorithm
  std::vector<AutoPoint> autos;  ///< where auto was measured
  /// The fitted model's own pick among hpcnn's algorithms (mpi left out: on
  /// a real cluster it is another library), at every point where they were
  /// measured: its measured time against the best of them.
  std::vector<AutoPoint> picks;
  comm::CostModel model;  ///< the fitted parameters (cost_model.json)
  std::vector<std::string> warnings;
};

/// Rows with wrong > 0 and algorithms without a model (auto, nccl) are left
/// out of the fit; ranks per node is ranks / nodes, rounded up. An algorithm
/// with fewer rows than parameters is skipped with a warning.
/// `network`: the measured network's settings, the CostModel fields besides its parameters and source
/// (fattree_leaf, torus_cbrt, nodes_per_switch, link_burst_bytes, dragonfly_platform,
/// library_half_duplex, ...): the fitted model keeps them and its placements use them.
AllreduceFit fit_allreduce(const std::vector<BenchRow>& rows, const std::string& source, comm::CostModel network = {});
AllreduceFit fit_allreduce(const std::vector<std::filesystem::path>& csv_files, comm::CostModel network = {});

std::string fit_markdown(const AllreduceFit& f);
/// One row per measurement: algo, ranks, nodes, bytes, measured/predicted us and busBw.
std::string fit_csv(const AllreduceFit& f);
/// The model (docs/formats.md, "cost model") plus each fit's residuals.
nlohmann::json fit_json(const AllreduceFit& f);

}  // namespace hpcnn::merge
