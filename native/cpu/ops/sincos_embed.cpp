#include "cpu/ops/sincos_embed.h"
#include "cpu/cpu_kernels.h"

#include <cmath>

namespace skipdit::cpu {

namespace {

// exp(x) for float32 computed the way PyTorch's CPU kernels do (SLEEF's expf_u10: Cody-Waite reduction
// by ln 2 and a degree-6 polynomial with FMAs). The timestep frequencies are multiplied by t up to 999,
// so one ulp of difference in a frequency shows up as ~3e-5 in cos/sin; matching the reference's exp
// makes the features agree to float32 rounding of cos/sin.
float torch_expf(float d) {
  const float R_LN2f = 1.442695040888963407359924681001892137426645954152985934135449406931f;
  const float L2Uf = 0.693145751953125f, L2Lf = 1.428606765330187045e-06f;
  const float qf = std::nearbyint(d * R_LN2f);
  float s = std::fma(qf, -L2Uf, d);
  s = std::fma(qf, -L2Lf, s);
  float u = 0.000198527617612853646278381f;
  u = std::fma(u, s, 0.00139304355252534151077271f);
  u = std::fma(u, s, 0.00833336077630519866943359f);
  u = std::fma(u, s, 0.0416664853692054748535156f);
  u = std::fma(u, s, 0.166666671633720397949219f);
  u = std::fma(u, s, 0.5f);
  u = 1.0f + std::fma(s * s, u, s);
  u = std::ldexp(u, static_cast<int>(qf));
  if (d < -104.0f) u = 0.0f;
  if (d > 104.0f) u = INFINITY;
  return u;
}

}  // namespace

void sincos_1d(int64_t m, double q, float* out) {
  const int64_t half = m / 2;
  for (int64_t k = 0; k < half; ++k) {
    // numpy: omega = arange(half) / (m / 2.); omega = 1 / 10000**omega; out = pos * omega
    double omega = 1.0 / std::pow(10000.0, double(k) / (double(m) / 2.0));
    double arg = q * omega;
    out[k] = static_cast<float>(std::sin(arg));
    out[half + k] = static_cast<float>(std::cos(arg));
  }
}

void pos_embed_2d(int64_t D, int64_t G, float* out) {
  for (int64_t r = 0; r < G; ++r)
    for (int64_t c = 0; c < G; ++c) {
      float* row = out + (r * G + c) * D;
      sincos_1d(D / 2, double(c), row);
      sincos_1d(D / 2, double(r), row + D / 2);
    }
}

void pos_embed_1d(int64_t D, int64_t F, float* out) {
  for (int64_t f = 0; f < F; ++f) sincos_1d(D, double(f), out + f * D);
}

void timestep_frequencies(const float* t, int64_t B, int64_t dim, float* out) {
  const int64_t half = dim / 2;
  const float neg_log_period = static_cast<float>(-std::log(10000.0));
  for (int64_t b = 0; b < B; ++b) {
    float* row = out + b * dim;
    for (int64_t i = 0; i < half; ++i) {
      // PyTorch: exp(-log(10000) * arange(half, float32) / half), each op rounded to float32
      const float freq = torch_expf((neg_log_period * static_cast<float>(i)) / static_cast<float>(half));
      const float arg = t[b] * freq;
      row[i] = std::cos(arg);
      row[half + i] = std::sin(arg);
    }
    if (dim % 2) row[dim - 1] = 0.0f;
  }
}


void kernel(const Context&, const ops::TimestepFrequencies& op, const KernelArgs& a) {
  timestep_frequencies(a.in[0].f32(), a.in[0].numel(), op.dim, a.out.f32());
}
}  // namespace skipdit::cpu
