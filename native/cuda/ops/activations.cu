#include "cuda/ops/activations.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
__global__ void silu_kernel(const float* x, int64_t n, float* y) {
  CUDA_FOR(i, n) y[i] = silu_f(x[i]);
}
}  // namespace

void silu(const float* x, int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  silu_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, n, y);
  check_launch("silu", stream);
}


void kernel(const Context& ctx, const ops::Silu&, const KernelArgs& a) {
  silu(fp(a.in[0]), a.in[0].numel(), fp(a.out), ctx.stream);
}
}  // namespace skipdit::cuda
