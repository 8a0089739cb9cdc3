// The per-step ops of sampling: classifier-free guidance and the sampler update.
#pragma once
#include "graph/op.h"

namespace skipdit {

// The per-step scalars of one sampler update, float32 values computed by the caller from the diffusion tables
// (lib/samplers.ts, lib/schedulers.ts `coefficients`); the op does the elementwise part in the official float32
// order. DDIM and DDPM start from x0 = sqrt_recip_ac * x - sqrt_recipm1_ac * eps (_predict_xstart_from_eps).
struct SamplerUpdate {
  // DDIM / DDPM: the ADM samplers of the class-conditioned models; DiffusersDDIM: diffusers' DDIMScheduler.step
  // (eta 0), which the text-to-video pipeline uses and which rounds differently; DiffusersDDPM: diffusers'
  // DDPMScheduler.step (fixed_small), Hunyuan-DiT's default sampler.
  enum class Kind { DDIM, DDPM, DiffusersDDIM, DiffusersDDPM };
  Kind kind = Kind::DDIM;
  float sqrt_recip_ac = 0, sqrt_recipm1_ac = 0;
  // DDIM: x = x0 * sqrt_ac_prev + dir_coef * eps' (+ noise_scale * noise when noise_scale != 0),
  // eps' = (sqrt_recip_ac * x - x0) / sqrt_recipm1_ac (_predict_eps_from_xstart).
  float sqrt_ac_prev = 0, dir_coef = 0, noise_scale = 0;
  // DDPM: mean = coef1 * x0 + coef2 * x; log-variance fixed_log, or with learned_range the interpolation of
  // min_log and max_log by (v + 1) / 2; x = mean + exp(0.5 * log_variance) * noise unless last.
  float coef1 = 0, coef2 = 0, min_log = 0, max_log = 0, fixed_log = 0;
  bool learned_range = false, last = false;
  // DiffusersDDIM: x0 = (x - sqrt_1m_ac * eps) / sqrt_ac, or with v_prediction (the model output is v)
  // x0 = sqrt_ac * x - sqrt_1m_ac * v and eps = sqrt_ac * v + sqrt_1m_ac * x; x0 clamped to [-clip_range, clip_range]
  // when clip_range > 0; x = sqrt_ac_prev * x0 + sqrt_1m_ac_prev * eps.
  float sqrt_ac = 0, sqrt_1m_ac = 0, sqrt_1m_ac_prev = 0, clip_range = 0;
  bool v_prediction = false;
  // DiffusersDDPM: x0 as DiffusersDDIM (sqrt_ac, sqrt_1m_ac, v_prediction, clip_range); mean = coef1 * x0 + coef2 * x;
  // x = mean + noise_scale * noise, or mean + 0 when last (t = 0: diffusers adds the integer 0).

  // Whether the op reads a noise tensor.
  bool needs_noise() const {
    switch (kind) {
      case Kind::DDIM: return noise_scale != 0;
      case Kind::DDPM:
      case Kind::DiffusersDDPM: return !last;
      case Kind::DiffusersDDIM: return false;
    }
    return false;
  }
};

namespace ops {

// CFG on raw (B, F, C, ...) float32 (the official forward_with_cfg): rows [0, B/2) conditional, [B/2, B)
// unconditional (uncond_first: the other way round, the text-to-video pipeline's order); the first guided_channels
// channels of both halves become uncond + scale * (cond - uncond), the rest is copied. frames = F (1 for images).
struct CfgGuidance : OpBase {
  static constexpr const char* kName = "cfg_guidance";
  static constexpr std::array<const char*, 1> kInputs{"raw"};
  int64_t frames = 1, channels = 1, guided_channels = 1;
  float scale = 1;
  bool uncond_first = false;
  template <class F> void fields(F&& f) {
    f("frames", frames);
    f("channels", channels);
    f("guided", guided_channels);
    f("scale", scale);
    f("uncond_first", uncond_first);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& raw = in[0];
    SKIPDIT_OP_EXPECT(raw.dtype == DType::F32 && raw.ndim() >= 2 && raw.dim(0) % 2 == 0 && frames > 0 &&
                          channels > 0 && raw.numel() % (raw.dim(0) * frames * channels) == 0,
                      "raw " + raw.describe());
    SKIPDIT_OP_EXPECT(guided_channels >= 1 && guided_channels <= channels, "guided channels " + std::to_string(guided_channels));
    return raw.shape;
  }
};

// The sampler update of one step, in place: x (outer, C, inner) <- update(x, eps, v, noise), where model_out is
// (outer, C, inner) = eps, or (outer, 2C, inner) = [eps, v] (learn_sigma; DiT: outer = B, Latte: B*F). noise
// (like x) is given exactly when u.needs_noise(). Bit-identical to the float32 loop of lib/samplers.ts (DDIM, DDPM)
// and lib/schedulers.ts (DiffusersDDIM, DiffusersDDPM: eps / v = the first C channels of a doubled row).
struct SamplerStep : OpBase {
  static constexpr const char* kName = "sampler_update";
  static constexpr std::array<const char*, 3> kInputs{"model_out", "noise?", "x"};
  static constexpr int kInPlace = 2;
  SamplerUpdate u;
  int64_t outer = 1, channels = 1;
  template <class F> void fields(F&& f) {
    f("outer", outer);
    f("channels", channels);
    f("kind", u.kind);
    f("sqrt_recip_ac", u.sqrt_recip_ac);
    f("sqrt_recipm1_ac", u.sqrt_recipm1_ac);
    f("sqrt_ac_prev", u.sqrt_ac_prev);
    f("dir_coef", u.dir_coef);
    f("noise_scale", u.noise_scale);
    f("coef1", u.coef1);
    f("coef2", u.coef2);
    f("min_log", u.min_log);
    f("max_log", u.max_log);
    f("fixed_log", u.fixed_log);
    f("learned_range", u.learned_range);
    f("last", u.last);
    f("sqrt_ac", u.sqrt_ac);
    f("sqrt_1m_ac", u.sqrt_1m_ac);
    f("sqrt_1m_ac_prev", u.sqrt_1m_ac_prev);
    f("clip_range", u.clip_range);
    f("v_prediction", u.v_prediction);
  }
  // Whether model_out holds the variance channels (2C).
  static bool doubled(const OpInputs& in) { return in[0].numel() == 2 * in[2].numel(); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &out = in[0], &x = in[2];
    SKIPDIT_OP_EXPECT(x.dtype == DType::F32 && out.dtype == DType::F32, "x " + x.describe());
    SKIPDIT_OP_EXPECT(outer > 0 && channels > 0 && x.numel() % (outer * channels) == 0,
                      "x " + x.describe() + " as (outer " + std::to_string(outer) + ", C " + std::to_string(channels) + ", inner)");
    SKIPDIT_OP_EXPECT(doubled(in) || out.numel() == x.numel(), "model_out " + out.describe() + " for x " + x.describe());
    SKIPDIT_OP_EXPECT(doubled(in) || !(u.kind == SamplerUpdate::Kind::DDPM && u.learned_range),
                      "learned_range needs the variance channels (2C) in model_out");
    SKIPDIT_OP_EXPECT(in.has(1) == u.needs_noise(), std::string("noise ") + (in.has(1) ? "given but unused" : "missing"));
    SKIPDIT_OP_EXPECT(!in.has(1) || (in[1].dtype == DType::F32 && in[1].numel() == x.numel()), "noise " + in[1].describe());
    return x.shape;
  }
};

}  // namespace ops
}  // namespace skipdit
