// Classifier-free guidance on the output of one batched cond+uncond forward.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// raw (B, F, C, HW) with rows [0, B/2) conditional and [B/2, B) unconditional (F = 1 for images), or the other way
// round with uncond_first (the text-to-video pipeline's order).
// For channels < guided_channels: out = uncond + s * (cond - uncond), written to both halves; other
// channels keep each row's own raw value (the official forward_with_cfg). out may equal raw.
void cfg_guidance(const float* raw, int64_t B, int64_t F, int64_t C, int64_t HW, int64_t guided_channels, float scale,
                  bool uncond_first, float* out);

}  // namespace skipdit::cpu
