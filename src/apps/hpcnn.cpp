// hpcnn: the command-line front end. One catch around everything: errors are
// one line on stderr and a non-zero exit (2 for usage errors).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  try {
    return hpcnn::cli::dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const hpcnn::UsageError& e) {
    std::fprintf(stderr, "hpcnn: usage error: %s\n", e.what());
    return 2;
  } catch (const hpcnn::Error& e) {
    std::fprintf(stderr, "hpcnn: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hpcnn: error: %s\n", e.what());
    return 1;
  }
}
