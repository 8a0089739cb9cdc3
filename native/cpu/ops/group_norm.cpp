#include "cpu/ops/group_norm.h"
#include "cpu/cpu_kernels.h"

#include <cmath>

#include "core/thread_pool.h"
#include "cpu/ops/activations.h"

namespace skipdit::cpu {

void group_norm(const float* x, int64_t B, int64_t C, int64_t HW, int64_t groups, float eps, const float* gamma,
                const float* beta, bool apply_silu, float* y) {
  const int64_t cg = C / groups, n = cg * HW;
  ThreadPool::global().parallel_for(B * groups, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / groups, g = i % groups;
      const float* xg = x + (b * C + g * cg) * HW;
      float* yg = y + (b * C + g * cg) * HW;
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += xg[j];
      const double mean = sum / double(n);
      double sq = 0;
      for (int64_t j = 0; j < n; ++j) sq += (xg[j] - mean) * (xg[j] - mean);
      const float m = float(mean), rstd = float(1.0 / std::sqrt(sq / double(n) + double(eps)));
      for (int64_t c = 0; c < cg; ++c) {
        const float ga = gamma[g * cg + c], be = beta[g * cg + c];
        for (int64_t p = 0; p < HW; ++p) {
          const float v = (xg[c * HW + p] - m) * rstd * ga + be;
          yg[c * HW + p] = apply_silu ? silu(v) : v;
        }
      }
    }
  });
}


// in: x (B, C, H, W), gamma, beta
void kernel(const Context&, const ops::GroupNorm& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  group_norm(x.f32(), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), op.groups, op.eps, a.in[1].f32(), a.in[2].f32(), op.silu,
             a.out.f32());
}
}  // namespace skipdit::cpu
