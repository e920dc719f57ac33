// Each oneDNN implementation of NHWC FP32 convolutions, alternated, median of 400 runs (microseconds).
// g++ -O2 -std=c++20 impls.cpp -ldnnl -fopenmp -o impls
// OMP_NUM_THREADS=1 ./impls N IC OC HW K STRIDE GROUPS RELU6 SUM [N IC OC ...]  (per shape: 9 numbers)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
int main(int argc, char** argv) {
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  // shapes: n ic oc h k stride groups act sum
  struct Sh {
    long n, ic, oc, h, k, st, g;
    int act, sum;
  };
  std::vector<Sh> shapes;
  for (int i = 1; i + 8 < argc; i += 9)
    shapes.push_back({atol(argv[i]), atol(argv[i + 1]), atol(argv[i + 2]), atol(argv[i + 3]), atol(argv[i + 4]),
                      atol(argv[i + 5]), atol(argv[i + 6]), atoi(argv[i + 7]), atoi(argv[i + 8])});
  int reps = 400;
  for (auto& sh : shapes) {
    long oh = (sh.h + (sh.k == 3 ? (sh.st == 2 ? 1 : 2) : 0) - sh.k) / sh.st + 1;
    long pl = sh.k == 3 && sh.st == 1 ? 1 : 0, pr = sh.k == 3 ? 1 : 0;
    memory::dims src{sh.n, sh.ic, sh.h, sh.h}, dst{sh.n, sh.oc, oh, oh};
    memory::dims w =
        sh.g > 1 ? memory::dims{sh.g, sh.oc / sh.g, sh.ic / sh.g, sh.k, sh.k} : memory::dims{sh.oc, sh.ic, sh.k, sh.k};
    memory::desc smd(src, dt::f32, tag::nhwc), dmd(dst, dt::f32, tag::nhwc), wmd(w, dt::f32, tag::any),
        bmd({sh.oc}, dt::f32, tag::x);
    primitive_attr attr;
    post_ops po;
    if (sh.act) po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
    if (sh.sum) po.append_sum(1.f);
    if (po.len()) attr.set_post_ops(po);
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, smd, wmd, bmd, dmd,
                                {sh.st, sh.st}, {pl, pl}, {pr, pr});
    convolution_forward::primitive_desc pd(d, attr, eng);
    std::vector<std::pair<std::string, convolution_forward>> prims;
    std::vector<std::unordered_map<int, memory>> argss;
    do {
      std::string nm = pd.impl_info_str();
      if (nm.rfind("ref", 0) == 0 || nm.rfind("gemm", 0) == 0) continue;
      prims.push_back({nm, convolution_forward(pd)});
      std::unordered_map<int, memory> a;
      for (auto [arg, md] : {std::pair{DNNL_ARG_SRC, pd.src_desc()},
                             {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                             {DNNL_ARG_BIAS, pd.bias_desc()},
                             {DNNL_ARG_DST, pd.dst_desc()}}) {
        memory m(md, eng);
        float* p = (float*)m.get_data_handle();
        for (size_t i = 0; i < md.get_size() / 4; ++i) p[i] = 0.01f * (i % 7);
        a[arg] = m;
      }
      argss.push_back(a);
    } while (pd.next_impl());
    std::vector<std::vector<double>> t(prims.size());
    for (int r = 0; r < reps; ++r)
      for (size_t i = 0; i < prims.size(); ++i) {
        auto t0 = std::chrono::steady_clock::now();
        prims[i].second.execute(s, argss[i]);
        s.wait();
        t[i].push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      }
    printf("n%ld %ld->%ld @%ld k%ld s%ld g%ld act%d sum%d:", sh.n, sh.ic, sh.oc, sh.h, sh.k, sh.st, sh.g, sh.act,
           sh.sum);
    for (size_t i = 0; i < prims.size(); ++i) {
      auto v = t[i];
      std::sort(v.begin(), v.end());
      printf("  %s %.2f", prims[i].first.c_str(), v[v.size() / 2]);
    }
    printf("\n");
  }
}
