// GroupNorm (+ fused SiLU) over (B, C, HW) (CPU twin: cpu/ops/group_norm.h): statistics per (sample,
// group) over (C/groups)*HW contiguous values in fp32 (frames > 1: over that run in each of `frames` consecutive
// rows, B / frames videos), per-channel affine. y may be x.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {
void group_norm(const float* x, int64_t B, int64_t C, int64_t HW, int64_t groups, float eps, const float* gamma,
                const float* beta, bool silu, float* y, cudaStream_t stream, int64_t frames = 1);
}  // namespace skipdit::cuda
