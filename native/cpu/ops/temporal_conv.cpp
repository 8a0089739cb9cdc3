// The SVD VAE decoder's temporal convolution (graph/ops/temporal_conv.h) on the per-frame layout: for each output
// row and channel, the bias plus, per input channel and tap, a scaled row of H*W values (float32 accumulation,
// taps in order k = 0..kt-1 inside each input channel, frames outside the video skipped: zero padding).
#include "cpu/cpu_kernels.h"

#include <algorithm>

#include "core/thread_pool.h"

namespace skipdit::cpu {

// in: x (N, Cin, H, W), w (Cout, Cin, kt, 1, 1), bias (Cout)
void kernel(const Context&, const ops::TemporalConv& op, const KernelArgs& args) {
  const Tensor &x = args.in[0], &w = args.in[1];
  const int64_t N = x.dim(0), Cin = x.dim(1), HW = x.dim(2) * x.dim(3), Cout = w.dim(0), kt = w.dim(2), F = op.frames;
  const float* xs = x.f32();
  const float* ws = w.f32();
  const float* bias = args.in[2].f32();
  float* y = args.out.f32();
  ThreadPool::global().parallel_for(N * Cout, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / Cout, o = r % Cout, f = n % F;
      float* out = y + r * HW;
      std::fill(out, out + HW, bias[o]);
      for (int64_t i = 0; i < Cin; ++i) {
        for (int64_t k = 0; k < kt; ++k) {
          const int64_t src = f + k - kt / 2;
          if (src < 0 || src >= F) continue;  // zero padding at the video's ends
          const float wk = ws[(o * Cin + i) * kt + k];
          const float* in = xs + ((n - f + src) * Cin + i) * HW;
          for (int64_t p = 0; p < HW; ++p) out[p] += wk * in[p];
        }
      }
    }
  });
}

}  // namespace skipdit::cpu
