// GEMM with fused epilogues: C (M, N) = A (M, K) @ W (N, K)^T, then bias, GELU-tanh, a gated residual
// or a channels-first store. A is float32 activations read through a loader (a dense matrix, or the
// implicit im2col of a convolution, so a conv never materialises its patch matrix); W is the weight in the
// model precision: float32 -> SIMT kernel (gemm_simt.cu, the strict path of the 1e-4 fixture check);
// bf16 / fp16 -> tensor-core mma.sync kernel (gemm_mma.cu), A rounded to the weight type as it is staged
// into shared memory, fp32 accumulation. CPU twins: cpu::linear / cpu::gemm_packed / cpu::conv2d_same.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

enum class WeightType { F32, BF16, F16 };

// A (N, ld) row-major weight; bf16/fp16 weights have ld = K rounded up to 8 (zero padded) so that every
// 16-byte row chunk is aligned for cp.async.
struct GemmWeight {
  const void* data;
  WeightType type;
  int64_t ld;
};

// What happens to one accumulated value v = (A @ W^T)[m, n]. Host-filled, passed by value to the kernel.
struct GemmEpilogue {
  const float* bias = nullptr;  // (N) or null
  bool gelu = false;            // GELU-tanh after the bias
  float* y = nullptr;
  // Output layout: row-major (M, N) when hw == 0; else channels-first (M / hw, N, hw) (conv: m = b*hw + pixel).
  int64_t hw = 0;
  // Gated residual (adaLN-Zero): y (M, N) += gate[(m / rows_per_gate) * gate_stride + n] * v. gate points
  // at the gate chunk of the first conditioning row; null for a plain store.
  const float* gate = nullptr;
  int64_t gate_stride = 0, rows_per_gate = 1;

  __device__ __forceinline__ void store(int64_t m, int64_t n, int64_t N, float v) const {
    if (bias) v += bias[n];
    if (gelu) v = gelu_tanh_f(v);
    if (gate) {
      float* p = y + m * N + n;
      *p = *p + gate[(m / rows_per_gate) * gate_stride + n] * v;
    } else if (hw) {
      y[((m / hw) * N + n) * hw + m % hw] = v;
    } else {
      y[m * N + n] = v;
    }
  }
};

// A loaders: four consecutive k of row m, zero past K (the caller keeps m < M).
struct DenseA {
  const float* a;  // (M, lda)
  int64_t lda;
  bool vec;        // a and lda allow 16-byte loads
  __device__ __forceinline__ float4 load4(int64_t m, int64_t k, int64_t K) const {
    const float* p = a + m * lda + k;
    if (vec && k + 3 < K) return *reinterpret_cast<const float4*>(p);
    float4 r;
    r.x = k < K ? p[0] : 0.0f;
    r.y = k + 1 < K ? p[1] : 0.0f;
    r.z = k + 2 < K ? p[2] : 0.0f;
    r.w = k + 3 < K ? p[3] : 0.0f;
    return r;
  }
};

// Same-padded stride-1 convolution of x (B, C, H, W) with a k x k kernel as a GEMM: row m = (b, py, px),
// column kk = (ci, ky, kx) in the weight's (Cout, C, k, k) order.
struct Im2colA {
  const float* x;
  int C, H, W, k, pad;
  __device__ __forceinline__ float at(int64_t m, int64_t kk) const {
    const int64_t hw = int64_t(H) * W, b = m / hw;
    const int p = int(m - b * hw), py = p / W, px = p - py * W;
    const int ci = int(kk / (k * k)), r = int(kk - int64_t(ci) * k * k), ky = r / k, kx = r - ky * k;
    const int iy = py + ky - pad, ix = px + kx - pad;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0.0f;
    return x[((b * C + ci) * H + iy) * W + ix];
  }
  __device__ __forceinline__ float4 load4(int64_t m, int64_t k, int64_t K) const {
    float4 r;
    r.x = k < K ? at(m, k) : 0.0f;
    r.y = k + 1 < K ? at(m, k + 1) : 0.0f;
    r.z = k + 2 < K ? at(m, k + 2) : 0.0f;
    r.w = k + 3 < K ? at(m, k + 3) : 0.0f;
    return r;
  }
};

// Runs C = A @ W^T (M, N, K) with the epilogue; picks the kernel from the weight type.
void gemm(const DenseA& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue& ep,
          cudaStream_t stream);
void gemm(const Im2colA& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue& ep,
          cudaStream_t stream);

// The kernels behind gemm(), one file each.
template <class ALoader>
void gemm_simt(const ALoader& a, int64_t M, int64_t K, const float* w, int64_t ldw, int64_t N, const GemmEpilogue& ep,
               cudaStream_t stream);
template <class ALoader>
void gemm_mma(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue& ep,
              cudaStream_t stream);

}  // namespace skipdit::cuda
