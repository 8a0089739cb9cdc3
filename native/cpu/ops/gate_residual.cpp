#include "cpu/ops/gate_residual.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

void gate_residual(float* h, const float* y, int64_t G, int64_t N, int64_t D, CondRows cond, int64_t gate_col) {
  ThreadPool::global().parallel_for(G * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* gate = cond.row(r / N, gate_col);
      float* hr = h + r * D;
      const float* yr = y + r * D;
      for (int64_t i = 0; i < D; ++i) hr[i] = hr[i] + gate[i] * yr[i];
    }
  });
}

}  // namespace skipdit::cpu
