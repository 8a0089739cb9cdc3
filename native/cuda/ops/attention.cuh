// Multi-head self-attention from the fused qkv projection (CPU twin: cpu/ops/attention.h): qkv (G, N, 3D)
// with [q | k | v] per token, heads of hd = D / H; out (G, N, D). Flash-style: keys in shared-memory tiles
// with an online softmax, never an N x N score matrix. Head dims up to 512 (the SD VAE's single head).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {

constexpr int64_t kMaxAttentionHeadDim = 512;

void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out, cudaStream_t stream);

}  // namespace skipdit::cuda
