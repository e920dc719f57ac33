// SimGrid's routes between hosts of a platform: route PLATFORM.xml < "src dst" lines; prints the link names a line
#include <cstdio>
#include <iostream>
#include <simgrid/s4u.hpp>
#include <string>
int main(int argc, char** argv) {
  simgrid::s4u::Engine e(&argc, argv);
  e.load_platform(argv[1]);
  int a, b;
  while (std::cin >> a >> b) {
    std::vector<simgrid::s4u::Link*> links;
    double lat = 0;
    e.host_by_name("node-" + std::to_string(a))->route_to(e.host_by_name("node-" + std::to_string(b)), links, &lat);
    std::printf("%d %d", a, b);
    for (auto* l : links) std::printf(" %s", l->get_cname());
    std::printf("\n");
  }
}
