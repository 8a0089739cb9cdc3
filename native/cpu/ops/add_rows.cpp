#include "cpu/ops/add_rows.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

void add_broadcast_rows(float* x, int64_t G, int64_t N, int64_t D, const float* e) {
  ThreadPool::global().parallel_for(G * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* er = e + (r % N) * D;
      float* xr = x + r * D;
      for (int64_t i = 0; i < D; ++i) xr[i] += er[i];
    }
  });
}

}  // namespace skipdit::cpu
