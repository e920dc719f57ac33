// flows/links per step as the model counts them: loads P < "name dst0 dst1 ..." lines
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include "comm/cost_model.hpp"
using namespace hpcnn::comm;
int main(int argc, char** argv) {
  const int p = std::atoi(argv[1]);
  CostModel m;
  m.dragonfly_platform = true;
  Placement w{p, 1, true};
  w.dragonfly = m.dragonfly_for(p);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string name;
    in >> name;
    std::vector<int> partner;
    int d;
    while (in >> d) partner.push_back(d);
    const LinkLoad l = step_link_load(w, partner);
    std::printf("%s %d %d\n", name.c_str(), l.flows, l.links);
  }
}
