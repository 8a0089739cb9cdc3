#include "cpu/ops/conv2d.h"
#include "cpu/cpu_kernels.h"

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"

namespace skipdit::cpu {

void im2col(const float* x, int64_t Cin, int64_t H, int64_t W, int64_t k, int64_t pad, int64_t p0, int64_t p1,
            float* cols) {
  const int64_t K = Cin * k * k;
  ThreadPool::global().parallel_for(p1 - p0, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = p0 + r, oy = p / W, ox = p % W;
      float* row = cols + r * K;
      for (int64_t ci = 0; ci < Cin; ++ci)
        for (int64_t ky = 0; ky < k; ++ky) {
          const int64_t iy = oy + ky - pad;
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t ix = ox + kx - pad;
            row[(ci * k + ky) * k + kx] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[(ci * H + iy) * W + ix] : 0.0f;
          }
        }
    }
  });
}

void conv2d_same(const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const float* packed_w, const float* bias,
                 int64_t Cout, int64_t k, float* scratch, float* y) {
  const int64_t HW = H * W, K = Cin * k * k;
  float* cols = scratch;                            // (tile, K)
  float* tile_out = scratch + kConvTilePixels * K;  // (tile, Cout)
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = x + b * Cin * HW;
    float* yb = y + b * Cout * HW;
    for (int64_t p0 = 0; p0 < HW; p0 += kConvTilePixels) {
      const int64_t p1 = std::min(HW, p0 + kConvTilePixels), n = p1 - p0;
      im2col(xb, Cin, H, W, k, (k - 1) / 2, p0, p1, cols);
      // (n, K) @ W^T = (n, Cout), pixel-major: transposed into the NCHW output with the bias.
      gemm_packed(cols, n, K, K, packed_w, Cout, tile_out, GemmEpilogue{bias});
      ThreadPool::global().parallel_for(Cout, 4, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t i = 0; i < n; ++i) yb[c * HW + p0 + i] = tile_out[i * Cout + c];
      });
    }
  }
}


// in: x (B, Cin, H, W), w packed (Cout, Cin*k*k), bias (Cout); scratch: conv_scratch_floats
void kernel(const Context&, const ops::Conv2d& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &y = a.out;
  SKIPDIT_CHECK(a.in[1].ndim() == 1 && a.in[1].dtype() == DType::F32, "conv2d: a packed float32 weight, got " + a.in[1].describe());
  conv2d_same(x.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), a.in[1].f32(), a.in[2].f32(), y.dim(1), op.k,
              a.scratch.f32(), y.f32());
}
}  // namespace skipdit::cpu
