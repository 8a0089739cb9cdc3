// Elementwise activations (CPU twin: cpu/ops/activations.h), n floats, in place allowed.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace skipdit::cuda {
void silu(const float* x, int64_t n, float* y, cudaStream_t stream);
}  // namespace skipdit::cuda
