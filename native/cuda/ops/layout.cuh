// Pure data movement (CPU twins: cpu/ops/unpatchify.h, relayout.h, upsample.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {

// (B, G*G, p*p*C) -> (B, C, G*p, G*p), token feature (pi*p + pj)*C + ch. tokens float / bf16 / fp16 (a
// model's activations), out float32 (the model's output, downloaded as is).
template <typename T>
void unpatchify(const T* tokens, int64_t B, int64_t Gh, int64_t Gw, int64_t p, int64_t C, float* out, cudaStream_t stream);

// (B, A1, A2, D) -> (B, A2, A1, D): Latte's spatial <-> temporal re-layout (and the VAE's (C, HW) transpose).
template <typename T>  // float, __nv_bfloat16 or __half
void swap_token_axes(const T* x, int64_t B, int64_t A1, int64_t A2, int64_t D, T* y, cudaStream_t stream);

// (N, H, W) -> (N, 2H, 2W), nearest.
void upsample_nearest2x(const float* x, int64_t N, int64_t H, int64_t W, float* y, cudaStream_t stream);

}  // namespace skipdit::cuda
