// Multi-head self-attention core: softmax(q k^T * hd^-0.5) v, read straight from the fused qkv projection.
//
// qkv (G, N, 3*D) is the output of attn.qkv for G independent sequences of N tokens; per token the layout
// is [q | k | v], each split into H heads of hd = D/H (PyTorch's reshape(B, N, 3, H, hd)). out (G, N, D)
// has heads concatenated per token (transpose(1, 2).reshape(B, N, D)). Scores are computed one key tile
// at a time with an online (running max) softmax, so memory is O(tile), never O(N^2).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out);

}  // namespace skipdit::cpu
