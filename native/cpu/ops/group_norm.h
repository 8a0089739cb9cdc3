// GroupNorm (the VAE decoder's norms): G groups of C/G consecutive channels, statistics per sample and group
// over (C/G)*H*W values (biased variance, accumulated in double), then a per-channel affine.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// x, y (B, C, HW); gamma/beta (C). y may equal x. When `silu` the result goes through SiLU (fused). frames > 1:
// the statistics of a group span `frames` consecutive rows (B / frames videos; the SVD decoder's temporal norms).
void group_norm(const float* x, int64_t B, int64_t C, int64_t HW, int64_t groups, float eps, const float* gamma,
                const float* beta, bool silu, float* y, int64_t frames = 1);

}  // namespace skipdit::cpu
