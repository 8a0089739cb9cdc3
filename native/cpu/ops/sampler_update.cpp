#include "cpu/ops/sampler_update.h"
#include "cpu/cpu_kernels.h"

#include <algorithm>
#include <cmath>

namespace skipdit::cpu {

void sampler_update(const float* model_out, bool doubled, int64_t outer, int64_t C, int64_t inner, const float* noise,
                    const SamplerUpdate& u, float* x) {
  const int64_t plane = C * inner, out_row = doubled ? 2 * plane : plane;
  const bool add_noise = u.needs_noise();
  for (int64_t o = 0; o < outer; ++o) {
    const float* eps = model_out + o * out_row;
    const float* v = eps + plane;  // read only when doubled
    float* xr = x + o * plane;
    const float* nr = add_noise ? noise + o * plane : nullptr;
    for (int64_t i = 0; i < plane; ++i) {
      const float xi = xr[i];
      if (u.kind == SamplerUpdate::Kind::DiffusersDDIM || u.kind == SamplerUpdate::Kind::DiffusersDDPM) {
        // torch's order: x0 = (x - b * eps) / a, or a * x - b * v (and eps = a * v + b * x); clamp
        const float m = eps[i];
        float x0 = u.v_prediction ? u.sqrt_ac * xi - u.sqrt_1m_ac * m : (xi - u.sqrt_1m_ac * m) / u.sqrt_ac;
        if (u.clip_range > 0) x0 = std::min(std::max(x0, -u.clip_range), u.clip_range);
        if (u.kind == SamplerUpdate::Kind::DiffusersDDIM) {  // a' * x0 + b' * eps
          const float e = u.v_prediction ? u.sqrt_ac * m + u.sqrt_1m_ac * xi : m;
          xr[i] = u.sqrt_ac_prev * x0 + u.sqrt_1m_ac_prev * e;
        } else {  // (c1 * x0 + c2 * x) + (std * noise, or the integer 0 at t = 0)
          const float mean = u.coef1 * x0 + u.coef2 * xi;
          xr[i] = mean + (add_noise ? u.noise_scale * nr[i] : 0.0f);
        }
        continue;
      }
      const float x0 = u.sqrt_recip_ac * xi - u.sqrt_recipm1_ac * eps[i];
      if (u.kind == SamplerUpdate::Kind::DDIM) {
        const float e = (u.sqrt_recip_ac * xi - x0) / u.sqrt_recipm1_ac;
        const float mean = x0 * u.sqrt_ac_prev + u.dir_coef * e;
        xr[i] = add_noise ? mean + u.noise_scale * nr[i] : mean;
      } else {
        const float mean = u.coef1 * x0 + u.coef2 * xi;
        if (u.last) {
          xr[i] = mean;
          continue;
        }
        float log_var = u.fixed_log;
        if (u.learned_range) {
          const float frac = (v[i] + 1.0f) / 2.0f;
          log_var = frac * u.max_log + (1.0f - frac) * u.min_log;
        }
        // exp in double, rounded once: what Math.fround(Math.exp(x)) gives in the TypeScript reference.
        const float stddev = static_cast<float>(std::exp(static_cast<double>(0.5f * log_var)));
        xr[i] = mean + stddev * nr[i];
      }
    }
  }
}


// in: model_out, noise?, x (= out)
void kernel(const Context&, const ops::SamplerStep& op, const KernelArgs& a) {
  const Tensor &out = a.in[0], &noise = a.in[1], &x = a.out;
  sampler_update(out.f32(), out.numel() == 2 * x.numel(), op.outer, op.channels, x.numel() / (op.outer * op.channels),
                 noise.defined() ? noise.f32() : nullptr, op.u, x.f32());
}
}  // namespace skipdit::cpu
