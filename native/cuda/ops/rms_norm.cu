// RMS norm (T5LayerNorm, CPU twin: cpu/ops/rms_norm.cpp): one block per row; the mean of squares as a float32
// block sum, then y = (x * rsqrt(var + eps)) * weight per element (1 / sqrtf: IEEE-rounded, as the CPU).
#include "cuda/cuda_kernels.cuh"

#include <string>

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>  // element type of x and y; weight float32
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const T* x, int64_t D, float eps, const float* weight, T* y) {
  const int64_t r = blockIdx.x;
  const T* xr = x + r * D;
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < D; i += kThreads) {
    const float v = to_float(xr[i]);
    sq = fmaf(v, v, sq);
  }
  const float var = block_sum(sq) / float(D);
  const float rstd = 1.0f / sqrtf(var + eps);
  T* yr = y + r * D;
  for (int64_t i = threadIdx.x; i < D; i += kThreads) {
    const float v = to_float(xr[i]) * rstd;
    yr[i] = from_float<T>(weight ? weight[i] * v : v);  // read and written by this thread only: y may alias x
  }
}

template <typename T>
void rms_norm(const T* x, int64_t rows, int64_t D, float eps, const float* weight, T* y, cudaStream_t stream) {
  if (rows == 0) return;
  SKIPDIT_CHECK(rows <= 0x7fffffff, "rms_norm: too many rows");
  rms_norm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, D, eps, weight, y);
  check_launch("rms_norm", stream);
}

}  // namespace

// in: x (..., D) of the activation type, weight? (D) float32; out like x
void kernel(const Context& ctx, const ops::RmsNorm& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t D = x.dim(-1);
  with_act_type(x, "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rms_norm(ap<T>(x), x.numel() / D, D, op.eps, fp_or_null(a.in[1]), ap<T>(a.out), ctx.stream);
  });
}

}  // namespace skipdit::cuda
