#include "cuda/ops/convert.cuh"

namespace skipdit::cuda {

namespace {
template <typename T>
__global__ void convert_kernel(const float* w, int64_t N, int64_t K, int64_t ld, T* out) {
  CUDA_FOR(i, N * ld) {
    const int64_t n = i / ld, k = i - n * ld;
    out[i] = from_float<T>(k < K ? w[n * K + k] : 0.0f);
  }
}
template <typename T>
__global__ void narrow_kernel(const float* x, int64_t n, T* y) {
  CUDA_FOR(i, n) y[i] = from_float<T>(x[i]);
}
template <typename T>
__global__ void widen_kernel(const T* x, int64_t n, float* y) {
  CUDA_FOR(i, n) y[i] = to_float(x[i]);
}
}  // namespace

void widen_to_f32(const void* x, bool bf16, int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  if (bf16) widen_kernel<<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), n, y);
  else widen_kernel<<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const __half*>(x), n, y);
  check_launch("download (widen to float32)", stream);
}

void narrow_from_f32(const float* x, bool bf16, int64_t n, void* y, cudaStream_t stream) {
  if (n == 0) return;
  if (bf16) narrow_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, n, static_cast<__nv_bfloat16*>(y));
  else narrow_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, n, static_cast<__half*>(y));
  check_launch("convert (round to the activation type)", stream);
}

void convert_weight(const float* w, int64_t N, int64_t K, WeightType type, void* out, cudaStream_t stream) {
  const int64_t ld = padded_ld(K);
  if (N * ld == 0) return;
  if (type == WeightType::BF16)
    convert_kernel<<<grid_for(N * ld, 256), 256, 0, stream>>>(w, N, K, ld, static_cast<__nv_bfloat16*>(out));
  else
    convert_kernel<<<grid_for(N * ld, 256), 256, 0, stream>>>(w, N, K, ld, static_cast<__half*>(out));
  check_launch("prepare_linear (weight conversion)", stream);
}

}  // namespace skipdit::cuda
