// y = wa * a + wb * b (graph/ops/blend.h; CPU twin: cpu/ops/blend.cpp), one thread per element, rounded
// intrinsics so the products and the sum round as torch's separate float32 ops (no FMA).
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

__global__ void blend_kernel(const float* a, const float* b, float wa, float wb, int64_t n, float* y) {
  CUDA_FOR(i, n) y[i] = __fadd_rn(__fmul_rn(wa, a[i]), __fmul_rn(wb, b[i]));
}

}  // namespace

// in: a, b (same shape, float32)
void kernel(const Context& ctx, const ops::Blend& op, const KernelArgs& args) {
  const int64_t n = args.in[0].numel();
  if (n == 0) return;
  blend_kernel<<<grid_for(n, 256), 256, 0, ctx.stream>>>(fp(args.in[0]), fp(args.in[1]), op.wa, op.wb, n, fp(args.out));
  check_launch("blend", ctx.stream);
}

}  // namespace skipdit::cuda
