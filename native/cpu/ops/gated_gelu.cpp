// T5 v1.1's gated activation: y = gelu_new(a) * b, gelu_new the tanh approximation (activations.h gelu_tanh,
// the same float32 formula as transformers' NewGELUActivation).
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"
#include "cpu/ops/activations.h"

namespace skipdit::cpu {

// in: a, b (same shape)
void kernel(const Context&, const ops::GatedGelu&, const KernelArgs& args) {
  const float* a = args.in[0].f32();
  const float* b = args.in[1].f32();
  float* y = args.out.f32();
  ThreadPool::global().parallel_for(args.in[0].numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = gelu_tanh(a[i]) * b[i];
  });
}

}  // namespace skipdit::cpu
