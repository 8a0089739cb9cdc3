// The SVD VAE decoder's temporal convolution (graph/ops/temporal_conv.h) on the per-frame layout, lowered like
// conv2d (cpu/ops/conv2d.cpp) to the packed GEMM: per output frame and tile of pixels, the columns (pixel, Cin*kt)
// gather x[frame + k - kt/2, i, pixel] (zero for frames outside the video), times the weight (Cout, Cin*kt) packed
// once per call into the scratch, transposed into the NCHW output with the bias.
#include "cpu/ops/temporal_conv.h"
#include "cpu/cpu_kernels.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "cpu/ops/conv2d.h"
#include "cpu/ops/gemm.h"

namespace skipdit::cpu {

int64_t temporal_conv_scratch_floats(int64_t Cin, int64_t Cout, int64_t kt) {
  return gemm_packed_floats(Cout, Cin * kt) + kConvTilePixels * (Cin * kt + Cout);
}

// in: x (N, Cin, H, W), w (Cout, Cin, kt, 1, 1), bias (Cout); scratch: temporal_conv_scratch_floats
void kernel(const Context&, const ops::TemporalConv& op, const KernelArgs& args) {
  const Tensor &x = args.in[0], &w = args.in[1];
  const int64_t N = x.dim(0), Cin = x.dim(1), HW = x.dim(2) * x.dim(3), Cout = w.dim(0), kt = w.dim(2), F = op.frames;
  const int64_t K = Cin * kt;
  float* packed = args.scratch.f32();
  float* cols = packed + gemm_packed_floats(Cout, K);  // (tile, K), features (i, k) as the weight's (Cout, Cin, kt)
  float* tile_out = cols + kConvTilePixels * K;        // (tile, Cout)
  gemm_pack(w.f32(), Cout, K, packed);
  const float* xs = x.f32();
  float* y = args.out.f32();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t f = n % F;
    for (int64_t p0 = 0; p0 < HW; p0 += kConvTilePixels) {
      const int64_t p1 = std::min(HW, p0 + kConvTilePixels), rows = p1 - p0;
      ThreadPool::global().parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t i = 0; i < Cin; ++i)
          for (int64_t k = 0; k < kt; ++k) {
            const int64_t src = f + k - kt / 2;
            const bool inside = src >= 0 && src < F;  // zero padding at the video's ends
            const float* in = xs + ((n - f + src) * Cin + i) * HW + p0;
            for (int64_t r = r0; r < r1; ++r) cols[r * K + i * kt + k] = inside ? in[r] : 0.0f;
          }
      });
      gemm_packed(cols, rows, K, K, packed, Cout, tile_out, GemmEpilogue{args.in[2].f32()});
      float* yn = y + n * Cout * HW;
      ThreadPool::global().parallel_for(Cout, 4, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = 0; r < rows; ++r) yn[c * HW + p0 + r] = tile_out[r * Cout + c];
      });
    }
  }
}

}  // namespace skipdit::cpu
