#include "cpu/ops/relayout.h"
#include "cpu/cpu_kernels.h"

#include <cstring>

#include "core/thread_pool.h"

namespace skipdit::cpu {

void swap_token_axes(const float* x, int64_t B, int64_t A1, int64_t A2, int64_t D, float* y) {
  ThreadPool::global().parallel_for(B * A1 * A2, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r indexes the source row (b, a1, a2)
      const int64_t b = r / (A1 * A2), a1 = (r / A2) % A1, a2 = r % A2;
      std::memcpy(y + ((b * A2 + a2) * A1 + a1) * D, x + r * D, D * sizeof(float));
    }
  });
}


void kernel(const Context&, const ops::Copy&, const KernelArgs& a) {
  std::memmove(a.out.raw(), a.in[0].raw(), a.in[0].nbytes());
}

// in: x (batch*A1, A2, D)
void kernel(const Context&, const ops::SwapTokenAxes& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  swap_token_axes(x.f32(), op.batch, x.dim(0) / op.batch, x.dim(1), x.dim(2), a.out.f32());
}
}  // namespace skipdit::cpu
