// Classifier-free guidance (CPU twin: cpu/ops/cfg_guidance.h): raw (B, F, C, HW), conditional rows first.
// out may be raw.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {
void cfg_guidance(const float* raw, int64_t B, int64_t F, int64_t C, int64_t HW, int64_t guided_channels, float scale,
                  bool uncond_first, float* out, cudaStream_t stream);
}  // namespace skipdit::cuda
