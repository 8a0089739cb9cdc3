#include "cuda/ops/modulate.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
// Element i = (row, d) with row = g * N + n; its conditioning row is row / rows_per_cond.
__global__ void modulate_kernel(const float* x, int64_t total, int64_t D, int64_t rows_per_cond, const float* mod,
                                int64_t stride, int64_t shift_col, int64_t scale_col, float* y) {
  CUDA_FOR(i, total) {
    const int64_t row = i / D, d = i - row * D;
    const float* c = mod + (row / rows_per_cond) * stride;
    y[i] = x[i] * (1.0f + c[scale_col + d]) + c[shift_col + d];
  }
}
__global__ void gate_residual_kernel(float* h, const float* y, int64_t total, int64_t D, int64_t rows_per_cond,
                                     const float* mod, int64_t stride, int64_t gate_col) {
  CUDA_FOR(i, total) {
    const int64_t row = i / D, d = i - row * D;
    h[i] = h[i] + mod[(row / rows_per_cond) * stride + gate_col + d] * y[i];
  }
}
}  // namespace

void modulate(const float* x, int64_t G, int64_t N, int64_t D, const float* mod, int64_t mod_stride,
              int64_t group_repeat, int64_t shift_col, int64_t scale_col, float* y, cudaStream_t stream) {
  const int64_t total = G * N * D;
  if (total == 0) return;
  modulate_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, total, D, N * group_repeat, mod, mod_stride, shift_col,
                                                            scale_col, y);
  check_launch("modulate", stream);
}

void gate_residual(float* h, const float* y, int64_t G, int64_t N, int64_t D, const float* mod, int64_t mod_stride,
                   int64_t group_repeat, int64_t gate_col, cudaStream_t stream) {
  const int64_t total = G * N * D;
  if (total == 0) return;
  gate_residual_kernel<<<grid_for(total, 256), 256, 0, stream>>>(h, y, total, D, N * group_repeat, mod, mod_stride,
                                                                 gate_col);
  check_launch("gate_residual", stream);
}

}  // namespace skipdit::cuda
