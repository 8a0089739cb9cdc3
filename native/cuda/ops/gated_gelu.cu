// T5 v1.1's gated activation y = gelu_new(a) * b (CPU twin: cpu/ops/gated_gelu.cpp), one thread per element,
// in float32 (gelu_tanh_f: PyTorch's / transformers' float32 formula), rounded once to the element type.
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

template <typename T>
__global__ void gated_gelu_kernel(const T* a, const T* b, int64_t n, T* y) {
  CUDA_FOR(i, n) y[i] = from_float<T>(gelu_tanh_f(to_float(a[i])) * to_float(b[i]));
}

}  // namespace

// in: a, b (same shape) of the activation type; out like a
void kernel(const Context& ctx, const ops::GatedGelu&, const KernelArgs& args) {
  const Tensor &a = args.in[0], &b = args.in[1];
  const int64_t n = a.numel();
  if (n == 0) return;
  with_act_type(a, "gated_gelu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    gated_gelu_kernel<T><<<grid_for(n, 256), 256, 0, ctx.stream>>>(ap<T>(a), ap<T>(b), n, ap<T>(args.out));
  });
  check_launch("gated_gelu", ctx.stream);
}

}  // namespace skipdit::cuda
