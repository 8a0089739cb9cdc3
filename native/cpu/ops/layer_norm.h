// LayerNorm over the last dimension: y = (x - mean) / sqrt(var + eps) [* gamma + beta].
// Statistics are accumulated in double (the result is rounded once to float32).
#pragma once
#include <cstdint>

#include "cpu/ops/modulate.h"

namespace skipdit::cpu {

// x, y (rows, D); gamma/beta (D) or both nullptr for no affine. y may equal x.
void layer_norm(const float* x, int64_t rows, int64_t D, float eps, const float* gamma, const float* beta, float* y);

// LayerNorm of the row-wise concatenation [a, b] (each (rows, D)) into y (rows, 2D) without materialising
// the concat first: the skip-fusion norm. gamma/beta (2D).
// With y16 set, layer_norm_concat and layer_norm_modulate write their rows there rounded to bf16 (y unused):
// the input of a bf16 GEMM (CpuBackend::operand_dtype).
void layer_norm_concat(const float* a, const float* b, int64_t rows, int64_t D, float eps, const float* gamma,
                       const float* beta, float* y, uint16_t* y16 = nullptr);

// y (G, N, D) = LayerNorm(x) * (1 + scale) + shift (no affine), shift/scale from the group's conditioning row:
// the adaLN pre-norm in one pass, the same float operations as layer_norm then modulate. y may equal x.
void layer_norm_modulate(const float* x, int64_t G, int64_t N, int64_t D, float eps, CondRows cond, int64_t shift_col,
                         int64_t scale_col, float* y, uint16_t* y16 = nullptr);

}  // namespace skipdit::cpu
