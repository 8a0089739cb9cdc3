#include "cpu/ops/group_norm.h"
#include "cpu/cpu_kernels.h"

#include <cmath>

#include "core/thread_pool.h"
#include "cpu/ops/activations.h"

namespace skipdit::cpu {

void group_norm(const float* x, int64_t B, int64_t C, int64_t HW, int64_t groups, float eps, const float* gamma,
                const float* beta, bool apply_silu, float* y, int64_t frames) {
  const int64_t cg = C / groups, n = cg * HW, videos = B / frames;
  ThreadPool::global().parallel_for(videos * groups, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t v = i / groups, g = i % groups;
      // the group's run of cg*HW values in each of the video's frames (rows v*frames + f)
      auto run = [&](int64_t f) { return (((v * frames + f) * C) + g * cg) * HW; };
      double sum = 0;
      for (int64_t f = 0; f < frames; ++f)
        for (int64_t j = 0; j < n; ++j) sum += x[run(f) + j];
      const double count = double(n) * double(frames), mean = sum / count;
      double sq = 0;
      for (int64_t f = 0; f < frames; ++f)
        for (int64_t j = 0; j < n; ++j) sq += (x[run(f) + j] - mean) * (x[run(f) + j] - mean);
      const float m = float(mean), rstd = float(1.0 / std::sqrt(sq / count + double(eps)));
      for (int64_t f = 0; f < frames; ++f) {
        const float* xg = x + run(f);
        float* yg = y + run(f);
        for (int64_t c = 0; c < cg; ++c) {
          const float ga = gamma[g * cg + c], be = beta[g * cg + c];
          for (int64_t p = 0; p < HW; ++p) {
            const float val = (xg[c * HW + p] - m) * rstd * ga + be;
            yg[c * HW + p] = apply_silu ? silu(val) : val;
          }
        }
      }
    }
  });
}


// in: x (B, C, H, W), gamma, beta
void kernel(const Context&, const ops::GroupNorm& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  group_norm(x.f32(), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), op.groups, op.eps, a.in[1].f32(), a.in[2].f32(), op.silu,
             a.out.f32(), op.frames);
}
}  // namespace skipdit::cpu
