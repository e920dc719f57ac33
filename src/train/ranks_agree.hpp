// The ranks agree before training: every rank must be started with the same
// result-changing configuration and dataset, or the job stops on every rank
// at once (none is left waiting in a collective) naming what differs.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hpcnn::comm {
class Communicator;
}

namespace hpcnn::train {

/// Where two texts first differ, for a message: when both are JSON, the first
/// differing key (a dotted path, "[i]" for array items) and its two values,
/// "rank 1 has lr = 0.002, rank 0 has lr = 0.001"; otherwise the texts
/// themselves, cut to 120 characters each. `rank_a` holds `a`, `rank_b` `b`.
std::string describe_difference(int rank_a, const std::string& a, int rank_b, const std::string& b);

/// Stops every rank unless all ranks agree on each (what, text) pair: the
/// message names the first rank that differs from rank 0 and, within `what`,
/// the first differing key and both values. Every rank reaches the same
/// verdict and throws the same message, so none is left waiting.
void check_ranks_agree(comm::Communicator& comm, const std::vector<std::pair<std::string, std::string>>& items);

}  // namespace hpcnn::train
