// Rotary embedding with real cos / sin tables and interleaved pairs (CPU twin: cpu/ops/rope_2d.cpp): one
// thread per (re, im) pair. __fmul_rn / __fadd_rn: each product rounded, then the sum, as the CPU twin and
// PyTorch's x * cos + rot(x) * sin (no FMA contraction): float32 results are bit-identical to the CPU.
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

template <typename T>  // element type of x and y; tables float32
__global__ void rope_2d_kernel(const T* x, int64_t pairs, int64_t L, int64_t D, int64_t hd, const float* cos,
                               const float* sin, T* y) {
  CUDA_FOR(p, pairs) {
    const int64_t e = 2 * p;           // element of x (row r = e / D, column e % D), even
    const int64_t d = (e % D) % hd;    // its column within the head, even
    const int64_t t = ((e / D) % L) * hd + d;
    const float re = to_float(x[e]), im = to_float(x[e + 1]);
    const float y0 = __fadd_rn(__fmul_rn(re, cos[t]), __fmul_rn(-im, sin[t]));
    const float y1 = __fadd_rn(__fmul_rn(im, cos[t + 1]), __fmul_rn(re, sin[t + 1]));
    y[e] = from_float<T>(y0);
    y[e + 1] = from_float<T>(y1);
  }
}

}  // namespace

// in: x (G, L, H*hd) of the activation type, cos, sin (L, hd) float32; out like x
void kernel(const Context& ctx, const ops::Rope2d& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t pairs = x.numel() / 2;
  if (pairs == 0) return;
  with_act_type(x, "rope_2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rope_2d_kernel<T><<<grid_for(pairs, 256), 256, 0, ctx.stream>>>(ap<T>(x), pairs, x.dim(1), x.dim(2),
                                                                   x.dim(2) / op.heads, fp(a.in[1]), fp(a.in[2]),
                                                                   ap<T>(a.out));
  });
  check_launch("rope_2d", ctx.stream);
}

}  // namespace skipdit::cuda
