// Multi-head self-attention from the fused qkv projection (CPU twin: cpu/ops/attention.h): qkv (G, N, 3D)
// with [q | k | v] per token, heads of hd = D / H; out (G, N, D). Flash-style: keys in shared-memory tiles
// with an online softmax, never an N x N score matrix. Head dims up to 512 (the SD VAE's single head).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {

constexpr int64_t kMaxAttentionHeadDim = 512;

// T: float, __nv_bfloat16 or __half (qkv and out). bf16 / fp16 with a supported head dim run on the tensor
// cores (attention_mma.cu: fp32 scores, softmax and accumulation, probabilities rounded to T for the P V
// product); float32, other head dims, or SKIPDIT_CUDA_ATTENTION=simt take the float32 SIMT kernel.
template <typename T>
void attention(const T* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, T* out, cudaStream_t stream);

// The tensor-core kernel (attention_mma.cu), T = __nv_bfloat16 or __half: hd a multiple of 8, at most 128,
// qkv 16-byte and out 4-byte aligned.
bool attention_mma_supported(int64_t hd, const void* qkv, const void* out);
template <typename T>
void attention_mma(const T* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, T* out, cudaStream_t stream);

}  // namespace skipdit::cuda
