// Tensor-core GEMM for bf16 / fp16 weights (sm_80+: mma.sync.m16n8k16, ldmatrix, cp.async), fp32 accumulation.
//
// Block tile BM (M) x BN (N) x 32 (K), 256 threads = 8 warps as 2 (M) x 4 (N), each warp (BM/2) x (BN/4)
// outputs = MT x NT mma tiles (MT = BM/32, NT = BN/32; 128 x 128: 4 x 4, 64 fp32 accumulators per thread).
// Three tiles, 128x128, 64x128 and 64x64: the largest whose grid still fills the GPU's SMs (a DiT-XL
// batch-2 projection, M = 512, N = 1152, has 36 blocks of 128 x 128 for 132 SMs, 144 of 64 x 64);
// SKIPDIT_CUDA_GEMM_TILE=128x128|64x128|64x64 forces one (tests run each). Two shared-memory stages: while the tensor cores
// work on stage s, the next W tile streams into stage s^1 with cp.async and the next A tile is loaded into
// registers (float32 activations rounded to the weight type; bf16 / fp16 activations of the weight type
// pass through float32 unchanged) and stored. Rows are padded to
// 40 elements (80 bytes): the 8 row addresses of every ldmatrix phase then fall in distinct bank groups.
#include "cuda/ops/gemm.cuh"

#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/ops/mma.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kBK = 32, kThreads = 256, kPitch = kBK + 8;

template <typename T>
struct alignas(8) Quad {
  T v[4];
};

// grid (ceil(M/BM), ceil(N/BN)). w (N, ldw) with ldw % 8 == 0, zero past K.
template <typename T, class ALoader, typename Y, int BM, int BN>
__global__ void __launch_bounds__(kThreads, 1) gemm_mma_kernel(ALoader a, const T* __restrict__ w, int64_t ldw, int64_t M,
                                                            int64_t N, int64_t K, GemmEpilogue<Y> ep) {
  constexpr int kBM = BM, kBN = BN, MT = BM / 32, NT = BN / 32, kWarpM = BM / 2, kWarpN = BN / 4;
  static_assert(BM % 32 == 0 && BN % 64 == 0, "2 x 4 warps of 16-row and 2 x 8-column mma tiles");
  __shared__ __align__(128) T As[2][kBM][kPitch];
  __shared__ __align__(128) T Bs[2][kBN][kPitch];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / 4, wn = warp % 4;  // warp tile origin: rows wm*kWarpM, columns wn*kWarpN
  const int64_t m0 = int64_t(blockIdx.x) * kBM, n0 = int64_t(blockIdx.y) * kBN;
  const int64_t Kw = (K + 7) / 8 * 8;  // padded weight columns actually present

  // This thread's A loads: rows ar + 32 i (i < BM/32), columns ak..ak+3 of the tile.
  const int ar = tid / 8, ak = (tid % 8) * 4;
  float4 a_regs[BM / 32];
  auto load_a = [&](int64_t k0) {
#pragma unroll
    for (int i = 0; i < BM / 32; ++i) {
      const int64_t m = m0 + ar + 32 * i;
      a_regs[i] = m < M ? a.load4(m, k0 + ak, K) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  auto store_a = [&](int stage) {
#pragma unroll
    for (int i = 0; i < BM / 32; ++i) {
      Quad<T> q;
      q.v[0] = from_float<T>(a_regs[i].x), q.v[1] = from_float<T>(a_regs[i].y);
      q.v[2] = from_float<T>(a_regs[i].z), q.v[3] = from_float<T>(a_regs[i].w);
      *reinterpret_cast<Quad<T>*>(&As[stage][ar + 32 * i][ak]) = q;
    }
  };
  // W: BN rows x 4 chunks of 8 elements, BN / 64 per thread.
  auto load_b = [&](int stage, int64_t k0) {
#pragma unroll
    for (int i = 0; i < BN / 64; ++i) {
      const int c = tid + kThreads * i, row = c / 4, kc = (c % 4) * 8;
      const int64_t n = n0 + row, k = k0 + kc;
      const bool ok = n < N && k < Kw;
      cp_async16(&Bs[stage][row][kc], ok ? static_cast<const void*>(w + n * ldw + k) : static_cast<const void*>(w),
                 ok ? 16 : 0);
    }
    cp_async_commit();
  };

  float acc[MT][NT][4] = {};
  const int64_t tiles = (K + kBK - 1) / kBK;
  load_a(0);
  load_b(0, 0);
  store_a(0);
  cp_async_wait_all();
  __syncthreads();

  for (int64_t t = 0; t < tiles; ++t) {
    const int cur = int(t & 1);
    const bool more = t + 1 < tiles;
    if (more) {
      load_a((t + 1) * kBK);
      load_b(cur ^ 1, (t + 1) * kBK);
    }
#pragma unroll
    for (int ks = 0; ks < kBK; ks += 16) {
      unsigned af[MT][4], bf[NT][2];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        ldmatrix_x4(af[mt], &As[cur][wm * kWarpM + mt * 16 + (lane % 16)][ks + (lane / 16) * 8]);
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {  // two n8 tiles per ldmatrix.x4: (lo k, hi k) of tile 2np, then 2np+1
        unsigned r[4];
        ldmatrix_x4(r, &Bs[cur][wn * kWarpN + (2 * np + lane / 16) * 8 + (lane % 8)][ks + ((lane / 8) % 2) * 8]);
        bf[2 * np][0] = r[0], bf[2 * np][1] = r[1], bf[2 * np + 1][0] = r[2], bf[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mma16816<T>(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
    }
    if (more) {
      store_a(cur ^ 1);  // stage cur^1 was last read before the previous barrier
      cp_async_wait_all();
    }
    __syncthreads();
  }

  // Accumulator (mt, nt): c0, c1 at row g, columns 2q, 2q+1; c2, c3 at row g+8 (g = lane/4, q = lane%4).
  const int g = lane / 4, q = lane % 4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t m = m0 + wm * kWarpM + mt * 16 + g + (e / 2) * 8, n = n0 + wn * kWarpN + nt * 8 + 2 * q + (e % 2);
        if (m < M && n < N) ep.store(m, n, N, acc[mt][nt][e]);
      }
}

template <typename T, class ALoader, typename Y, int BM, int BN>
void launch_tile(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue<Y>& ep,
                 cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((M + BM - 1) / BM), static_cast<unsigned>((N + BN - 1) / BN));
  gemm_mma_kernel<T, ALoader, Y, BM, BN><<<grid, kThreads, 0, stream>>>(a, static_cast<const T*>(w.data), w.ld, M, N, K, ep);
  check_launch(MmaType<T>::bf16 ? "gemm (bfloat16 tensor cores)" : "gemm (float16 tensor cores)", stream);
}

int multiprocessors() {
  static const int count = [] {
    int device = 0, n = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n;
  }();
  return count;
}

enum class Tile { M128N128, M64N128, M64N64 };

// SKIPDIT_CUDA_GEMM_TILE when set (read at every call), else the largest tile whose grid has a block for
// every SM.
Tile pick_tile(int64_t M, int64_t N) {
  if (const char* v = std::getenv("SKIPDIT_CUDA_GEMM_TILE")) {
    if (std::strcmp(v, "128x128") == 0) return Tile::M128N128;
    if (std::strcmp(v, "64x128") == 0) return Tile::M64N128;
    if (std::strcmp(v, "64x64") == 0) return Tile::M64N64;
  }
  const int64_t sms = multiprocessors();
  auto blocks = [&](int64_t bm, int64_t bn) { return ((M + bm - 1) / bm) * ((N + bn - 1) / bn); };
  if (blocks(128, 128) >= sms) return Tile::M128N128;
  if (blocks(64, 128) >= sms) return Tile::M64N128;
  return Tile::M64N64;
}

template <typename T, class ALoader, typename Y>
void launch(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue<Y>& ep,
            cudaStream_t stream) {
  SKIPDIT_CHECK(w.ld % 8 == 0 && w.ld >= K && reinterpret_cast<uintptr_t>(w.data) % 16 == 0,
                "gemm_mma: weight rows must be padded to 8 elements and 16-byte aligned");
  switch (pick_tile(M, N)) {
    case Tile::M128N128: return launch_tile<T, ALoader, Y, 128, 128>(a, M, K, w, N, ep, stream);
    case Tile::M64N128: return launch_tile<T, ALoader, Y, 64, 128>(a, M, K, w, N, ep, stream);
    case Tile::M64N64: return launch_tile<T, ALoader, Y, 64, 64>(a, M, K, w, N, ep, stream);
  }
}

}  // namespace

// float32 A and output (the conditioning GEMMs, runOp, the VAE's conv): both weight types. A and output of
// activation type T: only weights of that same type T (the backend keeps them consistent), checked here.
template <class ALoader, typename Y>
void gemm_mma(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue<Y>& ep,
              cudaStream_t stream) {
  constexpr bool f32_out = std::is_same_v<Y, float>;
  if (w.type == WeightType::BF16) {
    SKIPDIT_CHECK((f32_out || std::is_same_v<Y, __nv_bfloat16>), "gemm_mma: bfloat16 weights with float16 activations");
    if constexpr (f32_out || std::is_same_v<Y, __nv_bfloat16>) launch<__nv_bfloat16>(a, M, K, w, N, ep, stream);
  } else {
    SKIPDIT_CHECK((f32_out || std::is_same_v<Y, __half>), "gemm_mma: float16 weights with bfloat16 activations");
    if constexpr (f32_out || std::is_same_v<Y, __half>) launch<__half>(a, M, K, w, N, ep, stream);
  }
}

#define SKIPDIT_GEMM_MMA(A, Y)                                                                                \
  template void gemm_mma<A, Y>(const A&, int64_t, int64_t, const GemmWeight&, int64_t, const GemmEpilogue<Y>&, \
                               cudaStream_t);
SKIPDIT_GEMM_MMA(DenseA<float>, float)
SKIPDIT_GEMM_MMA(Im2colA, float)
SKIPDIT_GEMM_MMA(DenseA<float>, __nv_bfloat16)  // instantiated by gemm()'s dispatch; the patch embedding's
SKIPDIT_GEMM_MMA(DenseA<float>, __half)         // float32 weight always takes the SIMT kernel
SKIPDIT_GEMM_MMA(DenseA<__nv_bfloat16>, __nv_bfloat16)
SKIPDIT_GEMM_MMA(DenseA<__half>, __half)
#undef SKIPDIT_GEMM_MMA

}  // namespace skipdit::cuda
