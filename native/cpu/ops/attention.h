// Multi-head self-attention core: softmax(q k^T * hd^-0.5) v, read straight from the fused qkv projection.
//
// qkv (G, N, 3*D) is the output of attn.qkv for G independent sequences of N tokens; per token the layout
// is [q | k | v], each split into H heads of hd = D/H (PyTorch's reshape(B, N, 3, H, hd)). out (G, N, D)
// has heads concatenated per token (transpose(1, 2).reshape(B, N, D)). Per head, K and V are packed once into
// GEMM panels (O(N hd) per thread); scores exist for 64 queries x one 256-key tile at a time, combined across
// tiles with an online (running max) softmax, so memory is never O(N^2).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// bf16: where the CPU has AVX-512 BF16 (the bf16 GEMM's dot-product kernel), Q, K, the softmax weights and V
// are rounded to bf16 for the two products (fp32 accumulation, softmax in fp32): the attention of models
// loaded with bfloat16 weights. Elsewhere it has no effect.
void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out, bool bf16 = false);

}  // namespace skipdit::cpu
