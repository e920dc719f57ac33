// The CUDA backend's tree-summed layers on the host (issue 33.7): shared by
// the GPU test (the kernels against it, bitwise) and the CPU unit tests (it
// against the host layers, to 1e-5), so the twin itself is checked here.
#pragma once

#include <cmath>
#include <vector>

#include "backend.hpp"
#include "common/maths.hpp"

namespace hpcnn::test {

/// The CUDA backend's batch norm (training forward, running statistics,
/// backward, then inference) and global average pooling (and its gradient)
/// computed on the host the way the kernels do: per-channel sums by
/// kernels::maths::tree_sum's tree (issue 33.7). The GPU's results, bitwise. In the
/// order of the MobileNet test's outputs 0-6, 10, 11.
inline std::vector<std::vector<float>> tree_norm_and_gap(const std::vector<float>& x, const std::vector<float>& dy,
                                                         const std::vector<float>& gamma,
                                                         const std::vector<float>& beta, std::vector<float> rm,
                                                         std::vector<float> rv, const kernels::NormGeometry& g) {
  const int64_t hw = g.h * g.w, m = g.n * hw;
  const auto at = [&](int64_t c, int64_t i) { return static_cast<size_t>(((i / hw) * g.c + c) * hw + i % hw); };
  std::vector<float> y(x.size()), dx(x.size()), yi(x.size()), dg(static_cast<size_t>(g.c)), db(dg.size());
  for (int64_t c = 0; c < g.c; ++c) {
    const auto cs = static_cast<size_t>(c);
    const double mean = kernels::maths::tree_sum([&](int64_t i) { return x[at(c, i)]; }, m) / static_cast<double>(m);
    const double var =
        kernels::maths::tree_sum([&](int64_t i) { return kernels::maths::bn_square_term(x[at(c, i)], mean); }, m) /
        static_cast<double>(m);
    const auto mean_f = static_cast<float>(mean);
    const auto inv_std = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(g.epsilon)));
    rm[cs] = g.momentum * rm[cs] + (1.0f - g.momentum) * mean_f;
    rv[cs] = g.momentum * rv[cs] + (1.0f - g.momentum) * static_cast<float>(var);
    const float scale = gamma[cs] * inv_std;
    for (int64_t i = 0; i < m; ++i) y[at(c, i)] = (x[at(c, i)] - mean_f) * scale + beta[cs];
    const double sum_db = kernels::maths::tree_sum([&](int64_t i) { return dy[at(c, i)]; }, m);
    const double sum_dg = kernels::maths::tree_sum(
        [&](int64_t i) { return kernels::maths::bn_dgamma_term(dy[at(c, i)], x[at(c, i)], mean_f, inv_std); }, m);
    db[cs] = static_cast<float>(sum_db);
    dg[cs] = static_cast<float>(sum_dg);
    const double k = static_cast<double>(gamma[cs]) * inv_std / static_cast<double>(m);
    for (int64_t i = 0; i < m; ++i) {
      dx[at(c, i)] = kernels::maths::bn_diff_src(dy[at(c, i)], x[at(c, i)], mean_f, inv_std, k, static_cast<double>(m),
                                                 sum_db, sum_dg);
    }
    const auto inv_std_run = static_cast<float>(1.0 / std::sqrt(static_cast<double>(rv[cs]) + g.epsilon));
    const float scale_run = gamma[cs] * inv_std_run;
    for (int64_t i = 0; i < m; ++i) yi[at(c, i)] = (x[at(c, i)] - rm[cs]) * scale_run + beta[cs];
  }
  const int64_t planes = g.n * g.c;
  std::vector<float> gp(static_cast<size_t>(planes)), gpg(x.size());
  for (int64_t p = 0; p < planes; ++p) {
    const double sum = kernels::maths::tree_sum([&](int64_t i) { return x[static_cast<size_t>(p * hw + i)]; }, hw);
    gp[static_cast<size_t>(p)] = static_cast<float>(sum / static_cast<double>(hw));
  }
  for (int64_t i = 0; i < planes * hw; ++i) {
    gpg[static_cast<size_t>(i)] =
        static_cast<float>(static_cast<double>(gp[static_cast<size_t>(i / hw)]) / static_cast<double>(hw));
  }
  return {y, rm, rv, dx, dg, db, yi, gp, gpg};
}

}  // namespace hpcnn::test
