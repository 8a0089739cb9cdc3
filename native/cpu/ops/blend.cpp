// y = wa * a + wb * b (graph/ops/blend.h): two rounded products, then the rounded sum, as torch's float32 ops.
#include "cpu/cpu_kernels.h"

#include "core/thread_pool.h"

namespace skipdit::cpu {

// in: a, b (same shape, float32)
void kernel(const Context&, const ops::Blend& op, const KernelArgs& args) {
  const float* a = args.in[0].f32();
  const float* b = args.in[1].f32();
  float* y = args.out.f32();
  const float wa = op.wa, wb = op.wb;
  ThreadPool::global().parallel_for(args.in[0].numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = wa * a[i] + wb * b[i];  // -ffp-contract=off (CMakeLists.txt)
  });
}

}  // namespace skipdit::cpu
