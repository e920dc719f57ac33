// choose_by_model's candidates and pick for one point: pred MODEL.json RANKS BYTES (one rank a node;
// the model's topology keys apply). Used by grid.py; build line there.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "comm/cost_model.hpp"

using namespace hpcnn::comm;

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  std::ifstream in(argv[1]);
  nlohmann::json j;
  in >> j;
  const CostModel m = CostModel::from_json(j);
  const Placement where{std::atoi(argv[2]), 1, true};
  const AutoChoice c = choose_by_model(m, where, std::atof(argv[3]));
  for (const auto& [a, s] : c.candidates) std::printf("%s %.1f\n", modelled_name(a), s * 1e6);
  std::printf("pick %s\n", modelled_name(c.algo));
}
