#include "cpu/ops/activations.h"
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

void gelu_tanh(const float* x, int64_t n, float* y) {
  ThreadPool::global().parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = gelu_tanh(x[i]);
  });
}

void silu(const float* x, int64_t n, float* y) {
  ThreadPool::global().parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = silu(x[i]);
  });
}


void kernel(const Context&, const ops::Silu&, const KernelArgs& a) { silu(a.in[0].f32(), a.in[0].numel(), a.out.f32()); }
}  // namespace skipdit::cpu
