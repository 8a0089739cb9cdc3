// Weight conversion for the tensor-core GEMM: float32 (N, K) -> bf16 / fp16 (N, ld), ld = K rounded up
// to 8, zero padded (the cp.async 16-byte chunks of gemm_mma.cu). Run once per weight at load. And the
// way back for activations: bf16 / fp16 -> float32 before a download.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/ops/gemm.cuh"

namespace skipdit::cuda {
inline int64_t padded_ld(int64_t K) { return (K + 7) / 8 * 8; }
void convert_weight(const float* w, int64_t N, int64_t K, WeightType type, void* out, cudaStream_t stream);
// y (n) float32 = x (n) bf16 (bf16 = true) or fp16: a low-precision activation on its way to the host.
void widen_to_f32(const void* x, bool bf16, int64_t n, float* y, cudaStream_t stream);
// y (n) bf16 (bf16 = true) or fp16 = x (n) float32, rounded to nearest even (Backend::convert).
void narrow_from_f32(const float* x, bool bf16, int64_t n, void* y, cudaStream_t stream);
}  // namespace skipdit::cuda
