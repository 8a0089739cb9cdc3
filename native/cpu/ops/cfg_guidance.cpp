#include "cpu/ops/cfg_guidance.h"
#include "cpu/cpu_kernels.h"

#include <cstring>

namespace skipdit::cpu {

void cfg_guidance(const float* raw, int64_t B, int64_t F, int64_t C, int64_t HW, int64_t guided_channels, float scale,
                  bool uncond_first, float* out) {
  const int64_t half = B / 2;
  const int64_t plane = HW, frame = C * HW, row = F * frame;
  if (out != raw) std::memcpy(out, raw, B * row * sizeof(float));
  for (int64_t b = 0; b < half; ++b)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t ch = 0; ch < guided_channels; ++ch) {
        const int64_t first = b * row + f * frame + ch * plane, second = first + half * row;
        const int64_t cond = uncond_first ? second : first, uncond = uncond_first ? first : second;
        for (int64_t i = 0; i < plane; ++i) {
          const float g = raw[uncond + i] + scale * (raw[cond + i] - raw[uncond + i]);
          out[cond + i] = g;
          out[uncond + i] = g;
        }
      }
}


// in: raw (B, F, C, ...)
void kernel(const Context&, const ops::CfgGuidance& op, const KernelArgs& a) {
  const Tensor& raw = a.in[0];
  const int64_t B = raw.dim(0), HW = raw.numel() / (B * op.frames * op.channels);
  cfg_guidance(raw.f32(), B, op.frames, op.channels, HW, op.guided_channels, op.scale, op.uncond_first, a.out.f32());
}
}  // namespace skipdit::cpu
