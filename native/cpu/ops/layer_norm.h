// LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) [* gamma + beta].
// Statistics are accumulated in double (the result is rounded once to float32).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// x, y (rows, D); gamma/beta (D) or both nullptr for no affine. y may equal x.
void layer_norm(const float* x, int64_t rows, int64_t D, float eps, const float* gamma, const float* beta, float* y);

// LayerNorm of the row-wise concatenation [a, b] (each (rows, D)) into y (rows, 2D) without materialising
// the concat first: the skip-fusion norm. gamma/beta (2D).
void layer_norm_concat(const float* a, const float* b, int64_t rows, int64_t D, float eps, const float* gamma,
                       const float* beta, float* y);

}  // namespace skipdit::cpu
