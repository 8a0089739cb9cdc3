#include "cpu/ops/patch_embed.h"
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"
#include "cpu/ops/linear.h"

namespace skipdit::cpu {

void im2col_patches(const float* x, int64_t B, int64_t C, int64_t Hs, int64_t Ws, int64_t p, float* cols) {
  const int64_t gh = Hs / p, gw = Ws / p, T = gh * gw, F = C * p * p;
  ThreadPool::global().parallel_for(B * T, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t bt = t0; bt < t1; ++bt) {
      const int64_t b = bt / T, r = (bt % T) / gw, c = bt % gw;
      float* out = cols + bt * F;
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t pi = 0; pi < p; ++pi)
          for (int64_t pj = 0; pj < p; ++pj)
            out[(ch * p + pi) * p + pj] = x[((b * C + ch) * Hs + r * p + pi) * Ws + c * p + pj];
    }
  });
}

void patch_embed(const float* x, int64_t B, int64_t C, int64_t Hs, int64_t Ws, int64_t p, const float* w,
                 const float* bias, int64_t D, float* cols, float* tokens) {
  im2col_patches(x, B, C, Hs, Ws, p, cols);
  const int64_t T = (Hs / p) * (Ws / p);
  linear(cols, B * T, C * p * p, w, bias, D, tokens);
}


// in: x (B, C, H, W), w (D, C, p, p), bias (D); scratch: the im2col columns (B, T, C*p*p)
void kernel(const Context&, const ops::PatchEmbed&, const KernelArgs& a) {
  const Tensor &x = a.in[0], &w = a.in[1];
  patch_embed(x.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(2), w.f32(), a.in[2].f32(), w.dim(0),
              a.scratch.f32(), a.out.f32());
}
}  // namespace skipdit::cpu
