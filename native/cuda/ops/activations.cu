#include "cuda/ops/activations.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
__global__ void silu_kernel(const float* x, int64_t n, float* y) {
  CUDA_FOR(i, n) y[i] = silu_f(x[i]);
}
__global__ void gelu_kernel(const float* x, int64_t n, float* y) {
  CUDA_FOR(i, n) y[i] = gelu_tanh_f(x[i]);
}
}  // namespace

void silu(const float* x, int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  silu_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, n, y);
  check_launch("silu", stream);
}

void gelu_tanh(const float* x, int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  gelu_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, n, y);
  check_launch("gelu_tanh", stream);
}

}  // namespace skipdit::cuda
