#include "cpu/ops/unpatchify.h"
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

void unpatchify(const float* tokens, int64_t B, int64_t G, int64_t p, int64_t C, float* out) {
  const int64_t S = G * p;  // output side
  ThreadPool::global().parallel_for(B * C, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t bc = i0; bc < i1; ++bc) {
      const int64_t b = bc / C, ch = bc % C;
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x) {
          const int64_t token = (y / p) * G + x / p;
          const int64_t feature = ((y % p) * p + x % p) * C + ch;
          out[(bc * S + y) * S + x] = tokens[(b * G * G + token) * p * p * C + feature];
        }
    }
  });
}


// in: tokens (B, G*G, p*p*C); out (B, C, G*p, G*p)
void kernel(const Context&, const ops::Unpatchify& op, const KernelArgs& a) {
  const Tensor& out = a.out;
  unpatchify(a.in[0].f32(), out.dim(0), out.dim(2) / op.patch, op.patch, out.dim(1), out.f32());
}
}  // namespace skipdit::cpu
