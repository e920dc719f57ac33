// oneDNN inner product forward, backward-data and backward-weights, batch N,
// IN -> OUT, weights in oneDNN's preferred layout (format any): median of 15
// runs each and the implementation picked. Usage: ip_bench N IN OUT
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
  const int N = atoi(argv[1]), IC = atoi(argv[2]), OC = atoi(argv[3]);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  memory::dims sd{N, IC}, wd{OC, IC}, bd{OC}, dd{N, OC};
  auto smd = memory::desc(sd, dt::f32, tag::nc), dmd = memory::desc(dd, dt::f32, tag::nc),
       wmd = memory::desc(wd, dt::f32, tag::any), bmd = memory::desc(bd, dt::f32, tag::x);
#if DNNL_VERSION_MAJOR >= 3
  auto fpd = inner_product_forward::primitive_desc(eng, prop_kind::forward_training, smd, wmd, bmd, dmd);
  auto bdpd = inner_product_backward_data::primitive_desc(eng, smd, wmd, dmd, fpd);
  auto bwpd = inner_product_backward_weights::primitive_desc(eng, smd, wmd, bmd, dmd, fpd);
#else
  auto fpd = inner_product_forward::primitive_desc({prop_kind::forward_training, smd, wmd, bmd, dmd}, eng);
  auto bdpd = inner_product_backward_data::primitive_desc({smd, wmd, dmd}, eng, fpd);
  auto bwpd = inner_product_backward_weights::primitive_desc({smd, wmd, bmd, dmd}, eng, fpd);
#endif
  memory src(fpd.src_desc(), eng), w(fpd.weights_desc(), eng), b(fpd.bias_desc(), eng), dst(fpd.dst_desc(), eng);
  memory dsrc(bdpd.diff_src_desc(), eng), ddst(bdpd.diff_dst_desc(), eng), dw(bwpd.diff_weights_desc(), eng),
      db(bwpd.diff_bias_desc(), eng);
  memory wd2(bdpd.weights_desc(), eng);
  for (memory* m : {&src, &w, &b, &ddst, &wd2}) {
    float* f = (float*)m->get_data_handle();
    size_t n = m->get_desc().get_size() / 4;
    for (size_t i = 0; i < n; ++i) f[i] = (i % 7) * 0.1f;
  }
  inner_product_forward fwd(fpd);
  inner_product_backward_data bwdd(bdpd);
  inner_product_backward_weights bwdw(bwpd);
  auto run = [&](int which) {
    if (which == 0)
      fwd.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst}});
    if (which == 1) bwdd.execute(s, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wd2}, {DNNL_ARG_DIFF_SRC, dsrc}});
    if (which == 2)
      bwdw.execute(
          s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}});
    s.wait();
  };
  const double flops = 2.0 * N * IC * OC;
  printf("v%d.%d %dx%d->%d:", DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR, N, IC, OC);
  for (int which = 0; which < 3; ++which) {
    for (int i = 0; i < 3; ++i) run(which);
    std::vector<double> t;
    for (int i = 0; i < 15; ++i) {
      auto a = std::chrono::steady_clock::now();
      run(which);
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    printf("  %s %.2f ms (%.0f GF/s)",
           which == 0   ? "fwd"
           : which == 1 ? "bwd_d"
                        : "bwd_w",
           t[7] * 1e3, flops / t[7] / 1e9);
  }
  printf("   impl: %s | %s | %s\n", fpd.impl_info_str(), bdpd.impl_info_str(), bwpd.impl_info_str());
}
