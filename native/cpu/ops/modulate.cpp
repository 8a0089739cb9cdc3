#include "cpu/ops/modulate.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

void modulate(const float* x, int64_t G, int64_t N, int64_t D, CondRows cond, int64_t shift_col, int64_t scale_col,
              float* y) {
  ThreadPool::global().parallel_for(G * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* shift = cond.row(r / N, shift_col);
      const float* scale = cond.row(r / N, scale_col);
      const float* xr = x + r * D;
      float* yr = y + r * D;
      for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * (1.0f + scale[i]) + shift[i];
    }
  });
}

}  // namespace skipdit::cpu
