// GEMM with fused epilogues: C (M, N) = A (M, K) @ W (N, K)^T, then bias, GELU-tanh, a gated residual
// or a channels-first store. A is activations read through a loader (a dense float32 / bf16 / fp16 matrix,
// or the implicit im2col of a float32 convolution input, so a conv never materialises its patch matrix),
// widened to float32 as it is read; the epilogue stores float32 or the activation type. W is the weight in the
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
// Y is the output's element type (float, __nv_bfloat16, __half); the arithmetic is float32 throughout and
// the value is rounded once, when stored.
template <typename Y>
struct GemmEpilogue {
  const float* bias = nullptr;  // (N) or null
  bool gelu = false;            // GELU-tanh after the bias
  Y* y = nullptr;
  // Output layout: row-major (M, N) when hw == 0; else channels-first (M / hw, N, hw) (conv: m = b*hw + pixel).
  int64_t hw = 0;
  // Gated residual (adaLN-Zero): y (M, N) += gate[(m / rows_per_gate) * gate_stride + n] * v. gate points
  // at the gate chunk of the first conditioning row (float32 conditioning); null for a plain store.
  const float* gate = nullptr;
  int64_t gate_stride = 0, rows_per_gate = 1;

  __device__ __forceinline__ void store(int64_t m, int64_t n, int64_t N, float v) const {
    if (bias) v += bias[n];
    if (gelu) v = gelu_tanh_f(v);
    if (gate) {
      Y* p = y + m * N + n;
      *p = from_float<Y>(to_float(*p) + gate[(m / rows_per_gate) * gate_stride + n] * v);
    } else if (hw) {
      y[((m / hw) * N + n) * hw + m % hw] = from_float<Y>(v);
    } else {
      y[m * N + n] = from_float<Y>(v);
    }
  }
};

// A loaders: four consecutive k of row m as float32, zero past K (the caller keeps m < M).
template <typename T>  // element type: float, __nv_bfloat16, __half
struct DenseA {
  const T* a;  // (M, lda)
  int64_t lda;
  bool vec;    // a and lda allow 4-element (16-byte float, 8-byte bf16/fp16) loads
  __device__ __forceinline__ float4 load4(int64_t m, int64_t k, int64_t K) const {
    const T* p = a + m * lda + k;
    if constexpr (sizeof(T) == 4) {
      if (vec && k + 3 < K) return *reinterpret_cast<const float4*>(p);
    } else {
      if (vec && k + 3 < K) {
        const uint2 u = *reinterpret_cast<const uint2*>(p);
        const T* e = reinterpret_cast<const T*>(&u);
        return make_float4(to_float(e[0]), to_float(e[1]), to_float(e[2]), to_float(e[3]));
      }
    }
    float4 r;
    r.x = k < K ? to_float(p[0]) : 0.0f;
    r.y = k + 1 < K ? to_float(p[1]) : 0.0f;
    r.z = k + 2 < K ? to_float(p[2]) : 0.0f;
    r.w = k + 3 < K ? to_float(p[3]) : 0.0f;
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

// Runs C = A @ W^T (M, N, K) with the epilogue; picks the kernel from the weight type. Instantiated for
// (ALoader, Y) in gemm.cu: (DenseA<float>, float), (Im2colA, float); (DenseA<float>, bf16/fp16) for the
// float32 patch embedding of a low-precision model; (DenseA<T>, T) with T the weight type for its token GEMMs.
template <class ALoader, typename Y>
void gemm(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue<Y>& ep,
          cudaStream_t stream);

// The kernels behind gemm(), one file each.
template <class ALoader, typename Y>
void gemm_simt(const ALoader& a, int64_t M, int64_t K, const float* w, int64_t ldw, int64_t N,
               const GemmEpilogue<Y>& ep, cudaStream_t stream);
template <class ALoader, typename Y>
void gemm_mma(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue<Y>& ep,
              cudaStream_t stream);

}  // namespace skipdit::cuda
