// Which implementations oneDNN offers for a 1x1 conv + ReLU6 with a 3x3 depthwise post-op (append_dw) + ReLU6.
// g++ -O2 -std=c++20 append_dw.cpp -ldnnl -fopenmp -o append_dw
// OMP_NUM_THREADS=1 ./append_dw N IC OC HW DW_STRIDE
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
  long n = atol(argv[1]), ic = atol(argv[2]), oc = atol(argv[3]), h = atol(argv[4]), st = atol(argv[5]);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  memory::desc smd({n, ic, h, h}, dt::f32, tag::nhwc), dmd({n, oc, h, h}, dt::f32, tag::nhwc),
      wmd({oc, ic, 1, 1}, dt::f32, tag::any), bmd({oc}, dt::f32, tag::x);
  primitive_attr attr;
  post_ops po;
  po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
  po.append_dw(dt::f32, dt::f32, dt::f32, 3, st, 1, 0, {});
  po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
  attr.set_post_ops(po);
  convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, smd, wmd, bmd, dmd, {1, 1},
                              {0, 0}, {0, 0});
  try {
    convolution_forward::primitive_desc pd(d, attr, eng);
    do printf("impl %s dst %ld\n", pd.impl_info_str(), (long)pd.dst_desc().dims()[2]);
    while (pd.next_impl());
  } catch (dnnl::error& e) {
    printf("error %s\n", e.what());
  }
}
