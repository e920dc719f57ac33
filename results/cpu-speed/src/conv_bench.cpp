// oneDNN convolution forward, backward-data and backward-weights for one
// shape (batch 128, 3x3, stride 1, no padding), activations in nchw | nhwc |
// any (oneDNN's blocked choice): median of 15 runs each, and the
// implementation oneDNN picked. Builds against oneDNN 2.x or 3.x (see
// ../onednn-versions.sh). Usage: conv_bench LAYOUT IC OC IH
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
int main(int argc, char** argv) {
  const int N = 128, IC = atoi(argv[2]), OC = atoi(argv[3]), IH = atoi(argv[4]), K = 3, OH = IH - K + 1;
  std::string lay = argv[1];
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  tag at = lay == "nhwc" ? tag::nhwc : lay == "any" ? tag::any : tag::nchw;
  memory::dims sd{N, IC, IH, IH}, wd{OC, IC, K, K}, bd{OC}, dd{N, OC, OH, OH}, st{1, 1}, p{0, 0};
  auto smd = memory::desc(sd, dt::f32, at), dmd = memory::desc(dd, dt::f32, at),
       wmd = memory::desc(wd, dt::f32, tag::any), bmd = memory::desc(bd, dt::f32, tag::x);
#if DNNL_VERSION_MAJOR >= 3
  auto fpd = convolution_forward::primitive_desc(eng, prop_kind::forward_training, algorithm::convolution_direct, smd,
                                                 wmd, bmd, dmd, st, p, p);
  auto bdpd =
      convolution_backward_data::primitive_desc(eng, algorithm::convolution_direct, smd, wmd, dmd, st, p, p, fpd);
  auto bwpd = convolution_backward_weights::primitive_desc(eng, algorithm::convolution_direct, smd, wmd, bmd, dmd, st,
                                                           p, p, fpd);
#else
  auto fpd = convolution_forward::primitive_desc(
      {prop_kind::forward_training, algorithm::convolution_direct, smd, wmd, bmd, dmd, st, p, p}, eng);
  auto bdpd =
      convolution_backward_data::primitive_desc({algorithm::convolution_direct, smd, wmd, dmd, st, p, p}, eng, fpd);
  auto bwpd = convolution_backward_weights::primitive_desc(
      {algorithm::convolution_direct, smd, wmd, bmd, dmd, st, p, p}, eng, fpd);
#endif
  memory src(fpd.src_desc(), eng), w(fpd.weights_desc(), eng), b(fpd.bias_desc(), eng), dst(fpd.dst_desc(), eng);
  memory dsrc(bdpd.diff_src_desc(), eng), ddst(bdpd.diff_dst_desc(), eng), dw(bwpd.diff_weights_desc(), eng),
      db(bwpd.diff_bias_desc(), eng);
  for (memory* m : {&src, &w, &b, &ddst}) {
    float* f = (float*)m->get_data_handle();
    size_t n = m->get_desc().get_size() / 4;
    for (size_t i = 0; i < n; ++i) f[i] = (i % 7) * 0.1f;
  }
  convolution_forward fwd(fpd);
  convolution_backward_data bwdd(bdpd);
  convolution_backward_weights bwdw(bwpd);
  auto run = [&](int which) {
    if (which == 0)
      fwd.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst}});
    if (which == 1) bwdd.execute(s, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dsrc}});
    if (which == 2)
      bwdw.execute(
          s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}});
    s.wait();
  };
  const double flops = 2.0 * N * OC * OH * OH * IC * K * K;
  printf("v%d.%d %s %dx%d->%dx%d:", DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR, lay.c_str(), IC, IH, OC, OH);
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
