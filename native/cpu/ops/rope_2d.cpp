// Rotary embedding with real cos / sin tables and interleaved pairs (Hunyuan-DiT's apply_rotary_emb).
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

namespace {

// x, y (G, L, H*hd); cos, sin (L, hd). Per pair i of a head: y[2i] = x[2i] cos[2i] + (-x[2i+1]) sin[2i],
// y[2i+1] = x[2i+1] cos[2i+1] + x[2i] sin[2i+1]: each product rounded, then the sum (PyTorch's x * cos +
// rot(x) * sin in float32). y may equal x.
void rope_2d(const float* x, int64_t G, int64_t L, int64_t H, int64_t hd, const float* cos, const float* sin, float* y) {
  const int64_t D = H * hd;
  ThreadPool::global().parallel_for(G * L, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* c = cos + (r % L) * hd;
      const float* s = sin + (r % L) * hd;
      for (int64_t h = 0; h < H; ++h) {
        const float* xr = x + r * D + h * hd;
        float* yr = y + r * D + h * hd;
        for (int64_t d = 0; d < hd; d += 2) {
          const float re = xr[d], im = xr[d + 1];
          const float a0 = re * c[d], b0 = -im * s[d];
          const float a1 = im * c[d + 1], b1 = re * s[d + 1];
          yr[d] = a0 + b0;
          yr[d + 1] = a1 + b1;
        }
      }
    }
  });
}

}  // namespace

// in: x (G, L, H*hd), cos, sin (L, hd)
void kernel(const Context&, const ops::Rope2d& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  rope_2d(x.f32(), x.dim(0), x.dim(1), op.heads, x.dim(2) / op.heads, a.in[1].f32(), a.in[2].f32(), a.out.f32());
}

}  // namespace skipdit::cpu
