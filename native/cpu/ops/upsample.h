// Nearest-neighbour 2x upsampling (F.interpolate(scale_factor=2, mode="nearest")): out[y, x] = in[y/2, x/2].
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// x (N, H, W) -> y (N, 2H, 2W), N = batch * channels.
void upsample_nearest2x(const float* x, int64_t N, int64_t H, int64_t W, float* y);

}  // namespace skipdit::cpu
