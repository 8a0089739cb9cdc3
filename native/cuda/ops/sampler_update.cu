#include "cuda/ops/sampler_update.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
// One thread per element of x. u is passed by value (kernel parameter space).
__global__ void sampler_update_kernel(const float* model_out, int64_t plane, int64_t out_row, int64_t total,
                                      const float* noise, bool add_noise, SamplerUpdate u, float* x) {
  CUDA_FOR(k, total) {
    const int64_t o = k / plane, i = k - o * plane;
    const float* eps = model_out + o * out_row;
    const float xi = x[k];
    if (u.kind == SamplerUpdate::Kind::DiffusersDDIM || u.kind == SamplerUpdate::Kind::DiffusersDDPM) {
      // torch's order: x0 = (x - b * eps) / a, or a * x - b * v (and eps = a * v + b * x); clamp
      const float m = eps[i];
      float x0 = u.v_prediction ? __fsub_rn(__fmul_rn(u.sqrt_ac, xi), __fmul_rn(u.sqrt_1m_ac, m))
                                : __fdiv_rn(__fsub_rn(xi, __fmul_rn(u.sqrt_1m_ac, m)), u.sqrt_ac);
      if (u.clip_range > 0) x0 = fminf(fmaxf(x0, -u.clip_range), u.clip_range);
      if (u.kind == SamplerUpdate::Kind::DiffusersDDIM) {  // a' * x0 + b' * eps
        const float e = u.v_prediction ? __fadd_rn(__fmul_rn(u.sqrt_ac, m), __fmul_rn(u.sqrt_1m_ac, xi)) : m;
        x[k] = __fadd_rn(__fmul_rn(u.sqrt_ac_prev, x0), __fmul_rn(u.sqrt_1m_ac_prev, e));
      } else {  // (c1 * x0 + c2 * x) + (std * noise, or the integer 0 at t = 0)
        const float mean = __fadd_rn(__fmul_rn(u.coef1, x0), __fmul_rn(u.coef2, xi));
        x[k] = __fadd_rn(mean, add_noise ? __fmul_rn(u.noise_scale, noise[k]) : 0.0f);
      }
      continue;
    }
    const float x0 = __fsub_rn(__fmul_rn(u.sqrt_recip_ac, xi), __fmul_rn(u.sqrt_recipm1_ac, eps[i]));
    float result;
    if (u.kind == SamplerUpdate::Kind::DDIM) {
      const float e = __fdiv_rn(__fsub_rn(__fmul_rn(u.sqrt_recip_ac, xi), x0), u.sqrt_recipm1_ac);
      const float mean = __fadd_rn(__fmul_rn(x0, u.sqrt_ac_prev), __fmul_rn(u.dir_coef, e));
      result = add_noise ? __fadd_rn(mean, __fmul_rn(u.noise_scale, noise[k])) : mean;
    } else {
      const float mean = __fadd_rn(__fmul_rn(u.coef1, x0), __fmul_rn(u.coef2, xi));
      if (u.last) {
        result = mean;
      } else {
        float log_var = u.fixed_log;
        if (u.learned_range) {
          const float frac = __fdiv_rn(__fadd_rn(eps[plane + i], 1.0f), 2.0f);  // v follows eps in a doubled row
          log_var = __fadd_rn(__fmul_rn(frac, u.max_log), __fmul_rn(__fsub_rn(1.0f, frac), u.min_log));
        }
        const float stddev = static_cast<float>(exp(static_cast<double>(__fmul_rn(0.5f, log_var))));
        result = __fadd_rn(mean, __fmul_rn(stddev, noise[k]));
      }
    }
    x[k] = result;
  }
}
}  // namespace

void sampler_update(const float* model_out, bool doubled, int64_t outer, int64_t C, int64_t inner, const float* noise,
                    const SamplerUpdate& u, float* x, cudaStream_t stream) {
  const int64_t plane = C * inner, total = outer * plane;
  if (total == 0) return;
  sampler_update_kernel<<<grid_for(total, 256), 256, 0, stream>>>(model_out, plane, doubled ? 2 * plane : plane, total,
                                                                  noise, u.needs_noise(), u, x);
  check_launch("sampler_update", stream);
}


// in: model_out, noise?, x (= out)
void kernel(const Context& ctx, const ops::SamplerStep& op, const KernelArgs& a) {
  const Tensor &out = a.in[0], &x = a.out;
  sampler_update(fp(out), out.numel() == 2 * x.numel(), op.outer, op.channels, x.numel() / (op.outer * op.channels),
                 fp_or_null(a.in[1]), op.u, fp(x), ctx.stream);
}
}  // namespace skipdit::cuda
