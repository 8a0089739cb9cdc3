// Patch embedding: Conv2d(C, D, kernel=p, stride=p) followed by flatten(2).transpose(1, 2).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// Gathers non-overlapping p x p patches: x (B, C, Hs, Ws) -> cols (B, T, C*p*p) with T = (Hs/p)*(Ws/p),
// token n = r*(Ws/p) + c (row-major), feature (ch, pi, pj) in the order of the conv weight (D, C, p, p).
void im2col_patches(const float* x, int64_t B, int64_t C, int64_t Hs, int64_t Ws, int64_t p, float* cols);

// tokens (B, T, D) = im2col(x) @ w(D, C*p*p)^T + bias. cols is scratch of (B, T, C*p*p) floats.
void patch_embed(const float* x, int64_t B, int64_t C, int64_t Hs, int64_t Ws, int64_t p, const float* w,
                 const float* bias, int64_t D, float* cols, float* tokens);

}  // namespace skipdit::cpu
