// Exact GELU y = x * 0.5 * (1 + erf(x / sqrt(2))) (BERT; CPU twin: cpu/ops/gelu_erf.cpp), one thread per
// element, float32 erff, rounded once to the element type.
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

template <typename T>
__global__ void gelu_erf_kernel(const T* x, int64_t n, T* y) {
  constexpr float kAlpha = 0.70710678118654752440f;  // M_SQRT1_2
  CUDA_FOR(i, n) {
    const float v = to_float(x[i]);
    y[i] = from_float<T>(v * 0.5f * (1.0f + erff(v * kAlpha)));
  }
}

}  // namespace

// in: x of the activation type; out like x
void kernel(const Context& ctx, const ops::GeluErf&, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t n = x.numel();
  if (n == 0) return;
  with_act_type(x, "gelu_erf", [&](auto tag) {
    using T = typename decltype(tag)::type;
    gelu_erf_kernel<T><<<grid_for(n, 256), 256, 0, ctx.stream>>>(ap<T>(x), n, ap<T>(a.out));
  });
  check_launch("gelu_erf", ctx.stream);
}

}  // namespace skipdit::cuda
