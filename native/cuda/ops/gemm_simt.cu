// float32 SIMT GEMM: 64 x 64 block tiles, K in steps of 16, 256 threads each owning a 4 x 4 outputs
// (rows ty + 16 i, columns tx + 16 j, so shared-memory reads broadcast / hit 16 banks and stores coalesce).
// The strict float32 path: no TF32, so a forward matches the CPU to float32 rounding.
#include "cuda/ops/gemm.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kTile = 64, kStep = 16, kThreads = 256;

__device__ __forceinline__ float4 load_w4(const float* w, int64_t ldw, int64_t n, int64_t k, int64_t K, bool vec) {
  const float* p = w + n * ldw + k;
  if (vec && k + 3 < K) return *reinterpret_cast<const float4*>(p);
  float4 r;
  r.x = k < K ? p[0] : 0.0f;
  r.y = k + 1 < K ? p[1] : 0.0f;
  r.z = k + 2 < K ? p[2] : 0.0f;
  r.w = k + 3 < K ? p[3] : 0.0f;
  return r;
}

// grid (ceil(M/64), ceil(N/64)): A (M, K) via the loader, W (N, ldw), epilogue per output.
template <class ALoader, typename Y>
__global__ void __launch_bounds__(kThreads) gemm_simt_kernel(ALoader a, const float* __restrict__ w, int64_t ldw,
                                                             bool w_vec, int64_t M, int64_t N, int64_t K,
                                                             GemmEpilogue<Y> ep) {
  __shared__ float As[kStep][kTile + 4];  // [k][m]
  __shared__ float Bs[kStep][kTile + 4];  // [k][n]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = int64_t(blockIdx.x) * kTile, n0 = int64_t(blockIdx.y) * kTile;
  const int lr = tid / 4, lk = (tid % 4) * 4;  // this thread's load: row lr, k lk..lk+3 of the tile
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kStep) {
    const float4 av = m0 + lr < M ? a.load4(m0 + lr, k0 + lk, K) : make_float4(0, 0, 0, 0);
    const float4 bv = n0 + lr < N ? load_w4(w, ldw, n0 + lr, k0 + lk, K, w_vec) : make_float4(0, 0, 0, 0);
    As[lk + 0][lr] = av.x, As[lk + 1][lr] = av.y, As[lk + 2][lr] = av.z, As[lk + 3][lr] = av.w;
    Bs[lk + 0][lr] = bv.x, Bs[lk + 1][lr] = bv.y, Bs[lk + 2][lr] = bv.z, Bs[lk + 3][lr] = bv.w;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kStep; ++kk) {
      float ar[4], br[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) ar[i] = As[kk][ty + 16 * i], br[i] = Bs[kk][tx + 16 * i];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) ep.store(m, n, N, acc[i][j]);
    }
}

}  // namespace

template <class ALoader, typename Y>
void gemm_simt(const ALoader& a, int64_t M, int64_t K, const float* w, int64_t ldw, int64_t N,
               const GemmEpilogue<Y>& ep, cudaStream_t stream) {
  const bool w_vec = reinterpret_cast<uintptr_t>(w) % 16 == 0 && ldw % 4 == 0;
  const dim3 grid(static_cast<unsigned>((M + kTile - 1) / kTile), static_cast<unsigned>((N + kTile - 1) / kTile));
  gemm_simt_kernel<ALoader, Y><<<grid, kThreads, 0, stream>>>(a, w, ldw, w_vec, M, N, K, ep);
  check_launch("gemm (float32)", stream);
}

// float32 weights: float32 A (every model's patch embedding, the float32 models, the VAE in float32); the
// output is float32 or, for a low-precision model's patch embedding, its activation type.
#define SKIPDIT_GEMM_SIMT(A, Y)                                                                              \
  template void gemm_simt<A, Y>(const A&, int64_t, int64_t, const float*, int64_t, int64_t, const GemmEpilogue<Y>&, \
                                cudaStream_t);
SKIPDIT_GEMM_SIMT(DenseA<float>, float)
SKIPDIT_GEMM_SIMT(Im2colA, float)
SKIPDIT_GEMM_SIMT(DenseA<float>, __nv_bfloat16)
SKIPDIT_GEMM_SIMT(DenseA<float>, __half)
SKIPDIT_GEMM_SIMT(DenseA<__nv_bfloat16>, __nv_bfloat16)  // instantiated by gemm()'s dispatch, not reached:
SKIPDIT_GEMM_SIMT(DenseA<__half>, __half)                // float32 weights always come with float32 activations
#undef SKIPDIT_GEMM_SIMT

}  // namespace skipdit::cuda
