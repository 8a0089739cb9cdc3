#include "cpu/ops/add_rows.h"
#include "cpu/cpu_kernels.h"

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


// in: x (= out), y
void kernel(const Context&, const ops::Add&, const KernelArgs& a) {
  float* x = a.out.f32();
  const float* y = a.in[1].f32();
  for (int64_t i = 0, n = a.out.numel(); i < n; ++i) x[i] += y[i];
}

// in: x (G, N, D) (= out), e (N, D)
void kernel(const Context&, const ops::AddBroadcastRows&, const KernelArgs& a) {
  const Tensor& x = a.out;
  add_broadcast_rows(x.f32(), x.dim(0), x.dim(1), x.dim(2), a.in[1].f32());
}
}  // namespace skipdit::cpu
