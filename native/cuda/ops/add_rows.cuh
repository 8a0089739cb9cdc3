// Adds (CPU twins: CpuBackend::add, cpu/ops/add_rows.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {
// x (n) += y (n).
void add(float* x, const float* y, int64_t n, cudaStream_t stream);
// x (G, N, D) += e (N, D) for every group; x float / bf16 / fp16 (a model's activations), e float32.
template <typename T>
void add_broadcast_rows(T* x, int64_t G, int64_t N, int64_t D, const float* e, cudaStream_t stream);
}  // namespace skipdit::cuda
