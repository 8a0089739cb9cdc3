// Tensor-core flash attention for bf16 / fp16 activations (sm_80+; CPU twin: cpu/ops/attention.h), the
// FlashAttention-2 scheme on mma.sync.m16n8k16:
//
// - A block of 4 warps takes 64 consecutive queries of one (sequence, head); each warp owns 16 query rows.
//   Keys and values stream through shared memory in tiles of 64 rows, two stages (cp.async): tile t+1 loads
//   while tile t is computed. Rows past N are zero-filled by the copy (src-size 0).
// - S = Q K^T (16 x 64 per warp, fp32 accumulators) from ldmatrix fragments: Q (row-major, loaded once) is
//   the A operand, K stored [key][dim] is the "col" B operand as it is. The head dim is padded to HDP, a
//   multiple of 16, with zero columns in Q and K (they add nothing to the dot products).
// - Online softmax in the log2 domain, fp32: each thread holds 2 rows (g, g+8) x 16 keys; row maxima and
//   the final row sums are reduced over the 4 lanes of a quad. Keys past N score -inf.
// - O += P V: the accumulator fragments of two adjacent key tiles are exactly the A fragment of a 16-key
//   step, so P is rounded to T and packed in registers (never stored); V [key][dim] gives the B operand with
//   ldmatrix.trans. O (16 x hd per warp, fp32) is rescaled by exp2(m_old - m_new) per tile and divided by
//   the row sum (of the unrounded probabilities) at the end, then rounded to T once.
//
// Requirements (attention_mma_supported): hd a multiple of 8 (16-byte rows for cp.async and aligned pair
// stores), hd <= 128, qkv 16-byte and out 4-byte aligned. Other head dims and float32 take the SIMT kernel of attention.cu.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/ops/attention.cuh"
#include "cuda/ops/mma.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kWarps = 4, kRows = 16 * kWarps, kKeys = 64, kThreads = 32 * kWarps;

// Shared memory of one block: Q [kRows][pitch], K [2][kKeys][pitch], V [2][kKeys][pitch], pitch = HDP + 8
// (a row stride that is an odd multiple of 16 bytes: the 8 rows of an ldmatrix phase fall in distinct
// 16-byte bank groups).
template <typename T, int HDP>
constexpr size_t smem_bytes() {
  return size_t(kRows + 4 * kKeys) * (HDP + 8) * sizeof(T);
}

template <typename T, int HDP>
__global__ void __launch_bounds__(kThreads, 1) attention_mma_kernel(const T* __restrict__ qkv, int N, int H, int hd,
                                                                float scale_log2, T* __restrict__ out) {
  constexpr int kPitch = HDP + 8, kSteps = HDP / 16, kDimTiles = HDP / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* ks = qs + kRows * kPitch;
  T* vs = ks + 2 * kKeys * kPitch;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int64_t D = int64_t(H) * hd, row = 3 * D;
  const int qblocks = (N + kRows - 1) / kRows;
  const int64_t seq = blockIdx.x / (int64_t(H) * qblocks);
  const int h = int((blockIdx.x / qblocks) % H), q0 = int(blockIdx.x % qblocks) * kRows;
  const T* base = qkv + seq * N * row + int64_t(h) * hd;
  const int chunks = hd / 8, dim_tiles = hd / 8;  // 16-byte chunks per row; n8 tiles of the output

  // The padding columns [hd, HDP) of Q and of both K stages are zero for the whole kernel (loads never
  // write them; visible to the ldmatrix reads after the first barrier).
  const int pad = HDP - hd;
  for (int e = tid; e < (kRows + 2 * kKeys) * pad; e += kThreads) {
    const int r = e / pad, c = hd + e % pad;
    qs[r * kPitch + c] = from_float<T>(0.0f);  // r >= kRows continues into ks (contiguous)
  }
  // rows [first, first + 64) of one of q / k / v (offset 0 / D / 2D) into dst; rows >= valid are zeros.
  auto load_rows = [&](T* dst, int first, int valid, int64_t offset) {
    for (int c = tid; c < 64 * chunks; c += kThreads) {
      const int r = c / chunks, k = (c - r * chunks) * 8;
      const bool ok = r < valid;
      cp_async16(dst + r * kPitch + k, ok ? static_cast<const void*>(base + int64_t(first + r) * row + offset + k) : base,
                 ok ? 16 : 0);
    }
  };
  auto load_kv = [&](int tile) {
    const int j0 = tile * kKeys, valid = min(kKeys, N - j0), stage = tile & 1;
    load_rows(ks + stage * kKeys * kPitch, j0, valid, D);
    load_rows(vs + stage * kKeys * kPitch, j0, valid, 2 * D);
  };

  const int tiles = (N + kKeys - 1) / kKeys;
  load_rows(qs, q0, min(kRows, N - q0), 0);
  load_kv(0);
  cp_async_commit();

  unsigned qf[kSteps][4];
  float o[kDimTiles][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};  // rows g and g + 8: running max, partial sum

  for (int tile = 0; tile < tiles; ++tile) {
    if (tile + 1 < tiles) {
      load_kv(tile + 1);  // into the stage last read in tile - 1 (released by that tile's closing barrier)
      cp_async_commit();
      cp_async_wait_group<1>();
    } else {
      cp_async_wait_group<0>();
    }
    __syncthreads();
    if (tile == 0) {
#pragma unroll
      for (int kk = 0; kk < kSteps; ++kk)
        ldmatrix_x4(qf[kk], qs + (warp * 16 + (lane & 15)) * kPitch + kk * 16 + (lane >> 4) * 8);
    }
    const T* kt = ks + (tile & 1) * kKeys * kPitch;
    const T* vt = vs + (tile & 1) * kKeys * kPitch;

    // S (16 x 64) = Q K^T; key tile pair (2np, 2np + 1) per ldmatrix.x4.
    float s[kKeys / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk)
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        unsigned r[4];
        ldmatrix_x4(r, kt + ((2 * np + (lane >> 4)) * 8 + (lane & 7)) * kPitch + kk * 16 + ((lane >> 3) & 1) * 8);
        mma16816<T>(s[2 * np], qf[kk], r[0], r[1]);
        mma16816<T>(s[2 * np + 1], qf[kk], r[2], r[3]);
      }

    // Online softmax (log2 domain). Every tile has a key < N, so the new maxima are finite.
    const int j0 = tile * kKeys;
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = j0 + nt * 8 + 2 * t4 + (e & 1);
        const float v = key < N ? s[nt][e] * scale_log2 : -INFINITY;
        s[nt][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
    float corr[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      corr[r] = exp2f(m[r] - mx[r]);  // 0 on the first tile (m = -inf)
      m[r] = mx[r];
      l[r] *= corr[r];
    }
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(s[nt][e] - m[e >> 1]);
        s[nt][e] = p;
        l[e >> 1] += p;
      }
#pragma unroll
    for (int nt = 0; nt < kDimTiles; ++nt) {
      o[nt][0] *= corr[0], o[nt][1] *= corr[0];
      o[nt][2] *= corr[1], o[nt][3] *= corr[1];
    }

    // O (16 x hd) += P (16 x 64, rounded to T) V (64 x hd), 16 keys per step.
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const unsigned a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      const T* vrow = vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kPitch;
#pragma unroll
      for (int np = 0; np < kDimTiles / 2; ++np) {
        if (2 * np + 1 < dim_tiles) {  // dim tiles 2np and 2np + 1
          unsigned r[4];
          ldmatrix_x4_trans(r, vrow + (2 * np + (lane >> 4)) * 8);
          mma16816<T>(o[2 * np], a, r[0], r[1]);
          mma16816<T>(o[2 * np + 1], a, r[2], r[3]);
        } else if (2 * np < dim_tiles) {  // an odd count (hd 72: 9 tiles): the last one alone
          unsigned r[2];
          ldmatrix_x2_trans(r, vrow + 2 * np * 8);
          mma16816<T>(o[2 * np], a, r[0], r[1]);
        }
      }
    }
    __syncthreads();  // this stage is read by everyone before tile + 2 overwrites it
  }

  // Row sums over the quad, normalise, round once, store pairs (hd % 8 == 0: 4-byte aligned).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  const float inv[2] = {1.0f / l[0], 1.0f / l[1]};
  const int qrow[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  T* obase = out + seq * int64_t(N) * D + int64_t(h) * hd;
#pragma unroll
  for (int nt = 0; nt < kDimTiles; ++nt) {
    const int col = nt * 8 + 2 * t4;
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (nt < dim_tiles && qrow[r] < N)
        *reinterpret_cast<unsigned*>(obase + int64_t(qrow[r]) * D + col) =
            pack2<T>(o[nt][2 * r] * inv[r], o[nt][2 * r + 1] * inv[r]);
  }
}

template <typename T, int HDP>
void launch(const T* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, T* out, cudaStream_t stream) {
  constexpr size_t smem = smem_bytes<T, HDP>();
  static const bool raised = [] {  // over 48 KB needs the opt-in (once per instantiation)
    CUDA_CHECK(cudaFuncSetAttribute(attention_mma_kernel<T, HDP>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    return true;
  }();
  (void)raised;
  const int64_t blocks = G * H * ((N + kRows - 1) / kRows);
  SKIPDIT_CHECK(blocks <= 0x7fffffff && N <= 0x7fffffff, "attention: too many blocks");
  const float scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(double(hd)));  // log2(e) / sqrt(hd)
  attention_mma_kernel<T, HDP><<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(qkv, int(N), int(H), int(hd),
                                                                                        scale_log2, out);
  check_launch("attention (tensor cores)", stream);
}

}  // namespace

bool attention_mma_supported(int64_t hd, const void* qkv, const void* out) {
  return hd % 8 == 0 && hd >= 8 && hd <= 128 && reinterpret_cast<uintptr_t>(qkv) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(out) % 4 == 0;
}

template <typename T>
void attention_mma(const T* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, T* out, cudaStream_t stream) {
  SKIPDIT_CHECK(attention_mma_supported(hd, qkv, out),
                "attention_mma: head dim " + std::to_string(hd) + " or the alignment of qkv / out is not supported");
  if (G * N * H == 0) return;
  if (hd <= 32) launch<T, 32>(qkv, G, N, H, hd, out, stream);
  else if (hd <= 64) launch<T, 64>(qkv, G, N, H, hd, out, stream);
  else if (hd <= 80) launch<T, 80>(qkv, G, N, H, hd, out, stream);
  else if (hd <= 96) launch<T, 96>(qkv, G, N, H, hd, out, stream);
  else launch<T, 128>(qkv, G, N, H, hd, out, stream);
}

template void attention_mma<__nv_bfloat16>(const __nv_bfloat16*, int64_t, int64_t, int64_t, int64_t, __nv_bfloat16*,
                                           cudaStream_t);
template void attention_mma<__half>(const __half*, int64_t, int64_t, int64_t, int64_t, __half*, cudaStream_t);

}  // namespace skipdit::cuda
