#include "cuda/ops/add_rows.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
__global__ void add_kernel(float* x, const float* y, int64_t n) {
  CUDA_FOR(i, n) x[i] += y[i];
}
__global__ void add_rows_kernel(float* x, int64_t total, int64_t per_group, const float* e) {
  CUDA_FOR(i, total) x[i] += e[i % per_group];
}
}  // namespace

void add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, y, n);
  check_launch("add", stream);
}

void add_broadcast_rows(float* x, int64_t G, int64_t N, int64_t D, const float* e, cudaStream_t stream) {
  const int64_t total = G * N * D;
  if (total == 0) return;
  add_rows_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, total, N * D, e);
  check_launch("add_broadcast_rows", stream);
}

}  // namespace skipdit::cuda
