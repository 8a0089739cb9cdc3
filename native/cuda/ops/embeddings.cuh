// Embedding-side ops (CPU twins: cpu/ops/patch_embed.h, sincos_embed.h, embedding.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {

// cols (B, T, C*p*p) = the non-overlapping p x p patches of x (B, C, Hs, Ws), token n = r*(Ws/p) + c,
// feature (ch, pi, pj). The patch embedding is then a GEMM with the conv weight as (D, C*p*p).
void im2col_patches(const float* x, int64_t B, int64_t C, int64_t Hs, int64_t Ws, int64_t p, float* cols,
                    cudaStream_t stream);

// out (B, dim) = [cos(t f_i), sin(t f_i)], f_i = exp(-ln(10000) i / (dim/2)) rounded like PyTorch's
// float32 exp; a zero column when dim is odd.
void timestep_frequencies(const float* t, int64_t B, int64_t dim, float* out, cudaStream_t stream);

// out (B, D) = table (R, D)[labels (B)]; labels already range-checked on the host.
void embedding_lookup(const float* table, int64_t D, const int64_t* labels, int64_t B, float* out, cudaStream_t stream);

}  // namespace skipdit::cuda
