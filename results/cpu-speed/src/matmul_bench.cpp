// oneDNN matmul as hpcnn's dense forward runs it: src (N, IN) x W^T, with W^T
// read in place from plain (OUT, IN) weights through strides {1, IN}, plus
// bias. Median of 15 runs. Usage: matmul_bench N IN OUT
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
int main(int argc, char** argv) {
  const long N = atoi(argv[1]), IC = atoi(argv[2]), OC = atoi(argv[3]);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  memory::desc a({N, IC}, dt::f32, memory::dims{IC, 1}), b({IC, OC}, dt::f32, memory::dims{1, IC}),
      bias({1, OC}, dt::f32, memory::dims{OC, 1}), c({N, OC}, dt::f32, memory::dims{OC, 1});
#if DNNL_VERSION_MAJOR >= 3
  auto pd = matmul::primitive_desc(eng, a, b, bias, c);
#else
  auto pd = matmul::primitive_desc(matmul::desc(a, b, bias, c), eng);
#endif
  memory A(a, eng), B(b, eng), Bi(bias, eng), C(c, eng);
  for (memory* m : {&A, &B, &Bi}) {
    float* f = (float*)m->get_data_handle();
    size_t n = m->get_desc().get_size() / 4;
    for (size_t i = 0; i < n; ++i) f[i] = (i % 7) * 0.1f;
  }
  matmul mmp(pd);
  std::vector<double> t;
  for (int i = 0; i < 18; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    mmp.execute(s, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_BIAS, Bi}, {DNNL_ARG_DST, C}});
    s.wait();
    if (i >= 3) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  printf("matmul %ldx%ld->%ld: %.2f ms (%.0f GF/s) impl %s\n", N, IC, OC, t[7] * 1e3, 2.0 * N * IC * OC / t[7] / 1e9,
         pd.impl_info_str());
}
