// LayerNorm over the last dimension, fp32 statistics (CPU twin: cpu/ops/layer_norm.h, and the default
// Backend::layer_norm_modulate = layer_norm then modulate). One kernel serves three entries. T (x, y) is
// float, __nv_bfloat16 or __half; gamma, beta and mod are float32.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {

// y (rows, D) = LayerNorm(x) [* gamma + beta]; gamma/beta (D) or null. y may be x.
template <typename T>
void layer_norm(const T* x, int64_t rows, int64_t D, float eps, const float* gamma, const float* beta, T* y,
                cudaStream_t stream);

// y (rows, 2D) = LayerNorm([a, b]) * gamma + beta, gamma/beta (2D): the concat-free skip-fusion norm.
template <typename T>
void layer_norm_concat(const T* a, const T* b, int64_t rows, int64_t D, float eps, const float* gamma,
                       const float* beta, T* y, cudaStream_t stream);

// y (G, N, D) = LayerNorm(x) * (1 + scale) + shift (no affine): the fused adaLN pre-norm. shift/scale of
// group g are at mod + (g / group_repeat) * mod_stride + shift_col / scale_col. y may be x.
template <typename T>
void layer_norm_modulate(const T* x, int64_t G, int64_t N, int64_t D, float eps, const float* mod,
                         int64_t mod_stride, int64_t group_repeat, int64_t shift_col, int64_t scale_col, T* y,
                         cudaStream_t stream);

}  // namespace skipdit::cuda
