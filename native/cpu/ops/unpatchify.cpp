#include "cpu/ops/unpatchify.h"
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

void unpatchify(const float* tokens, int64_t B, int64_t Gh, int64_t Gw, int64_t p, int64_t C, float* out) {
  const int64_t H = Gh * p, W = Gw * p;  // output size
  ThreadPool::global().parallel_for(B * C, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t bc = i0; bc < i1; ++bc) {
      const int64_t b = bc / C, ch = bc % C;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const int64_t token = (y / p) * Gw + x / p;
          const int64_t feature = ((y % p) * p + x % p) * C + ch;
          out[(bc * H + y) * W + x] = tokens[(b * Gh * Gw + token) * p * p * C + feature];
        }
    }
  });
}


// in: tokens (B, Gh*Gw, p*p*C); out (B, C, Gh*p, Gw*p)
void kernel(const Context&, const ops::Unpatchify& op, const KernelArgs& a) {
  const Tensor& out = a.out;
  unpatchify(a.in[0].f32(), out.dim(0), out.dim(2) / op.patch, out.dim(3) / op.patch, op.patch, out.dim(1), out.f32());
}
}  // namespace skipdit::cpu
