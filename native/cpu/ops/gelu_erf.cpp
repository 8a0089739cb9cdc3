// Exact GELU (BERT's hidden_act "gelu"): y = x * 0.5 * (1 + erf(x / sqrt(2))), PyTorch's float32 formula.
#include "cpu/cpu_kernels.h"

#include <cmath>

#include "core/thread_pool.h"

namespace skipdit::cpu {

// in: x
void kernel(const Context&, const ops::GeluErf&, const KernelArgs& a) {
  const float* x = a.in[0].f32();
  float* y = a.out.f32();
  constexpr float kAlpha = 0.70710678118654752440f;  // M_SQRT1_2
  ThreadPool::global().parallel_for(a.in[0].numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = x[i] * 0.5f * (1.0f + std::erf(x[i] * kAlpha));
  });
}

}  // namespace skipdit::cpu
