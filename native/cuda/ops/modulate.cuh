// adaLN modulation and gated residual, a conditioning row per group of tokens (CPU twins:
// cpu/ops/modulate.h, cpu/ops/gate_residual.h; the CondRows convention: group g uses row g / group_repeat).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {

// y (G, N, D) = x * (1 + scale) + shift; mod (Bc, mod_stride). y may be x.
void modulate(const float* x, int64_t G, int64_t N, int64_t D, const float* mod, int64_t mod_stride,
              int64_t group_repeat, int64_t shift_col, int64_t scale_col, float* y, cudaStream_t stream);

// h (G, N, D) += gate * y.
void gate_residual(float* h, const float* y, int64_t G, int64_t N, int64_t D, const float* mod, int64_t mod_stride,
                   int64_t group_repeat, int64_t gate_col, cudaStream_t stream);

}  // namespace skipdit::cuda
