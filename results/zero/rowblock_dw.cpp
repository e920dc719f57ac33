// Issue 30 stage 2, item 2's open question: can a dense layer's weight
// gradient dW = dY^T X be computed in row blocks (output rows r0..r1, so that
// a sharded rank never holds a 1.3 GB layer gradient whole) with the same bits
// as hpcnn's whole computation (oneDNN inner_product_backward_weights on plain
// (OUT, IN) weights, kernels/onednn/onednn_backend.cpp), and at what speed?
// Row blocks are oneDNN matmuls, dY^T read in place through strides {1, OUT}.
// Prints, for batch N, IN -> OUT and ROWS rows per block: max |difference|
// and the count of differing floats of (a) row-blocked matmul vs the whole
// inner product, (b) row-blocked matmul vs one whole matmul (M = OUT), and
// the median ms of each over REPS runs alternated A B C A B C.
// Build: g++ -O2 -std=c++17 rowblock_dw.cpp -ldnnl -o /tmp/rowblock_dw
// Usage: rowblock_dw N IN OUT ROWS [REPS]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <vector>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: rowblock_dw N IN OUT ROWS [REPS]\n");
    return 2;
  }
  const long N = atol(argv[1]), IN = atol(argv[2]), OUT = atol(argv[3]), ROWS = atol(argv[4]);
  const int reps = argc > 5 ? atoi(argv[5]) : 7;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  std::vector<float> x(N * IN), dy(N * OUT), dw_ip(OUT * IN), db(OUT), dw_rows(OUT * IN), dw_mm(OUT * IN);
  std::mt19937 gen(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (float& v : x) v = std::max(0.0f, d(gen));  // a ReLU's output
  for (float& v : dy) v = 1e-3f * d(gen);
  // (A) hpcnn's whole inner-product backward weights, plain (OUT, IN) weights.
  const memory::desc src_md({N, IN}, dt::f32, tag::nc), dst_md({N, OUT}, dt::f32, tag::nc),
      w_md({OUT, IN}, dt::f32, tag::oi), b_md({OUT}, dt::f32, tag::x);
  auto fwd_pd = inner_product_forward::primitive_desc(
      inner_product_forward::desc(prop_kind::forward_training, src_md, w_md, b_md, dst_md), eng);
  auto bw_pd = inner_product_backward_weights::primitive_desc(
      inner_product_backward_weights::desc(src_md, w_md, b_md, dst_md), eng, fwd_pd);
  if (bw_pd.diff_weights_desc() != w_md) std::printf("note: the inner product wants another diff-weights layout\n");
  inner_product_backward_weights ip(bw_pd);
  const auto run_ip = [&] {
    ip.execute(s, {{DNNL_ARG_SRC, memory(src_md, eng, x.data())},
                   {DNNL_ARG_DIFF_DST, memory(dst_md, eng, dy.data())},
                   {DNNL_ARG_DIFF_WEIGHTS, memory(w_md, eng, dw_ip.data())},
                   {DNNL_ARG_DIFF_BIAS, memory(b_md, eng, db.data())}});
    s.wait();
  };
  // (B) row blocks: dW[r0:r0+rows, :] = dY[:, r0:r0+rows]^T X, one matmul per block size.
  const auto make_mm = [&](long rows) {
    const memory::desc a({rows, N}, dt::f32, memory::dims{1, OUT}), b({N, IN}, dt::f32, memory::dims{IN, 1}),
        c({rows, IN}, dt::f32, memory::dims{IN, 1});
    return std::make_tuple(matmul(matmul::primitive_desc(matmul::desc(a, b, c), eng)), a, b, c);
  };
  auto full_rows = make_mm(ROWS);
  auto tail_rows = make_mm(OUT % ROWS == 0 ? ROWS : OUT % ROWS);
  auto whole = make_mm(OUT);
  const auto run_block = [&](auto& mm, long r0, float* out) {
    auto& [prim, a, b, c] = mm;
    prim.execute(s, {{DNNL_ARG_SRC, memory(a, eng, dy.data() + r0)},
                     {DNNL_ARG_WEIGHTS, memory(b, eng, x.data())},
                     {DNNL_ARG_DST, memory(c, eng, out + r0 * IN)}});
  };
  const auto run_rows = [&] {
    for (long r0 = OUT; r0 > 0;) {  // tail first, as backward hands them to the reducer
      const long rows = r0 == OUT && OUT % ROWS != 0 ? OUT % ROWS : ROWS;
      r0 -= rows;
      run_block(rows == ROWS ? full_rows : tail_rows, r0, dw_rows.data());
    }
    s.wait();
  };
  const auto run_whole_mm = [&] {
    run_block(whole, 0, dw_mm.data());
    s.wait();
  };
  std::vector<double> t[3];
  const auto timed = [](const auto& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int r = 0; r < reps + 1; ++r) {  // the first round warms up
    const double a = timed(run_ip), b = timed(run_rows), c = timed(run_whole_mm);
    if (r == 0) continue;
    t[0].push_back(a);
    t[1].push_back(b);
    t[2].push_back(c);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const auto diff = [&](const std::vector<float>& p, const std::vector<float>& q, const char* what) {
    long n = 0;
    double worst = 0.0;
    for (size_t i = 0; i < p.size(); ++i) {
      if (std::memcmp(&p[i], &q[i], sizeof(float)) != 0) ++n;
      worst = std::max(worst, std::fabs(static_cast<double>(p[i]) - q[i]));
    }
    std::printf("  %-40s %ld of %zu floats differ, max |diff| %.3g\n", what, n, p.size(), worst);
  };
  std::printf("N %ld, %ld -> %ld, %ld rows per block (%ld blocks):\n", N, IN, OUT, ROWS, (OUT + ROWS - 1) / ROWS);
  diff(dw_rows, dw_ip, "row-blocked matmul vs whole inner product");
  diff(dw_rows, dw_mm, "row-blocked matmul vs whole matmul");
  std::printf("  median ms: inner product %.2f, row-blocked matmul %.2f (%.3fx), whole matmul %.2f (%.3fx)\n",
              median(t[0]), median(t[1]), median(t[1]) / median(t[0]), median(t[2]), median(t[2]) / median(t[0]));
  return 0;
}
