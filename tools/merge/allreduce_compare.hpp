// All-reduce comparison from `hpcnn bench allreduce --csv` files.
//
// Rows are grouped by (ranks, nodes, bytes); within a group every algorithm's
// busBw is listed, the best correct one named, and its ratio to `mpi`
// (MPI_Allreduce) given when mpi was measured. Rows with wrong > 0 are shown
// but never chosen as best.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hpcnn::merge {

struct BenchRow {
  std::string algo;
  int ranks = 0, nodes = 0;
  int64_t count = 0, bytes = 0;
  double time_us = 0, algbw_gbs = 0, busbw_gbs = 0;
  int64_t wrong = 0;
};

/// Parses one bench CSV (header checked). Malformed lines are skipped with a
/// warning naming `file` and the line number.
std::vector<BenchRow> parse_bench_csv(const std::string& text, const std::string& file,
                                      std::vector<std::string>& warnings);

struct ComparisonRow {
  int ranks = 0, nodes = 0;
  int64_t bytes = 0;
  std::map<std::string, BenchRow> by_algo;
  std::string best;          ///< "" when no correct row
  double best_over_mpi = 0;  ///< 0 when mpi is missing
};

struct AllreduceComparison {
  std::vector<std::string> algos;   ///< column order: as first seen
  std::vector<ComparisonRow> rows;  ///< by (ranks, nodes, bytes)
  std::vector<std::string> warnings;
};

/// Later files win for a repeated (algo, ranks, nodes, bytes), with a warning.
AllreduceComparison compare_allreduce(const std::vector<std::filesystem::path>& csv_files);

std::string comparison_markdown(const AllreduceComparison& c);
/// Long form, one row per (ranks, nodes, bytes, algo): plotting input.
std::string comparison_csv(const AllreduceComparison& c);
nlohmann::json comparison_json(const AllreduceComparison& c);

}  // namespace hpcnn::merge
