// RMS norm (T5LayerNorm) over the last dimension: y = x * rsqrt(mean(x^2) + eps) [* weight].
#include "cpu/cpu_kernels.h"

#include <cmath>

#include "core/thread_pool.h"

namespace skipdit::cpu {

namespace {

// x, y (rows, D); weight (D) or null. The mean of squares is accumulated in double and rounded to float32 (the
// float32 variance of transformers); then, in float32: r = 1 / sqrt(var + eps), y = (x * r) * weight.
void rms_norm(const float* x, int64_t rows, int64_t D, float eps, const float* weight, float* y) {
  ThreadPool::global().parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      double sq = 0;
      for (int64_t i = 0; i < D; ++i) sq += double(xr[i]) * double(xr[i]);
      const float var = float(sq / double(D));
      const float rstd = 1.0f / std::sqrt(var + eps);
      if (weight) {
        for (int64_t i = 0; i < D; ++i) yr[i] = weight[i] * (xr[i] * rstd);
      } else {
        for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * rstd;
      }
    }
  });
}

}  // namespace

// in: x (..., D), weight? (D)
void kernel(const Context&, const ops::RmsNorm& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t D = x.dim(-1);
  rms_norm(x.f32(), x.numel() / D, D, op.eps, f32_or_null(a.in[1]), a.out.f32());
}

}  // namespace skipdit::cpu
