// Shared by every CUDA op: checked calls that throw skipdit::Error (a JS exception, never an exit), the
// launch check run after every kernel, and small device helpers. Included by .cu files only.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/error.h"

namespace skipdit::cuda {

// Maps a CUDA error to the error kind users can act on: "no usable device here" is BackendUnavailable
// (also a binary without code for this GPU, an old driver, and out-of-memory: the model does not fit this
// device), everything else (illegal address, launch failure) is an Internal bug report.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);

// After every launch: a bad configuration shows up here at once; a fault inside the kernel shows up at the
// next synchronizing call, or right here when SKIPDIT_CUDA_SYNC=1 (debugging, compute-sanitizer runs).
void check_launch(const char* op, cudaStream_t stream);
// SKIPDIT_CUDA_SYNC is set (and not "0"): read once.
bool sync_after_launch();

}  // namespace skipdit::cuda

#define CUDA_CHECK(call)                                                           \
  do {                                                                             \
    cudaError_t err_ = (call);                                                     \
    if (err_ != cudaSuccess) ::skipdit::cuda::throw_cuda_error(err_, #call, __FILE__, __LINE__); \
  } while (0)

namespace skipdit::cuda {

inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65535 * 8) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

// Grid-stride loop over [0, n) with 64-bit indices.
#define CUDA_FOR(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial/total may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < warps ? partial[lane] : 0.0f;
    s = warp_sum(s);
    if (lane == 0) total = s;
  }
  __syncthreads();
  return total;
}

// PyTorch's float32 formulas (native/cpu/ops/activations.h).
__device__ __forceinline__ float gelu_tanh_f(float x) {
  const float kBeta = 0.7978845608028654f, kKappa = 0.044715f;
  return 0.5f * x * (1.0f + tanhf(kBeta * (x + kKappa * (x * x * x))));
}
__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + expf(-x)); }

// Storage conversion for low-precision weights and activations (float: the identity, so the float32 path
// of a kernel templated on its element type is the float32 kernel it was).
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

// Explicit instantiation of a host entry for the three activation types (float, bf16, fp16).
#define SKIPDIT_FOR_ACT_TYPES(X) X(float) X(__nv_bfloat16) X(__half)

}  // namespace skipdit::cuda
