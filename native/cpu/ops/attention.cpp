#include "cpu/ops/attention.h"
#include "cpu/cpu_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/simd_math.h"

namespace skipdit::cpu {

namespace {

constexpr int64_t kQueryBlock = 64;  // queries per work item (rows of the score GEMM)
constexpr int64_t kKeyTile = 256;    // keys whose scores exist at once (columns of the score GEMM)

// max_j s[j], n >= 1.
__attribute__((target("avx512f"))) float row_max_avx512(const float* s, int64_t n) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + j));
  if (j < n) m = _mm512_mask_max_ps(m, __mmask16((1u << (n - j)) - 1), m, _mm512_maskz_loadu_ps(__mmask16((1u << (n - j)) - 1), s + j));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, m);
  return *std::max_element(lanes, lanes + 16);
}

// p[j] = exp(s[j] * scale - max) for j < n, returns the sum of the float32 p. With p16, p goes there rounded
// to bf16 (zero padded to even n: the rows of the bf16 product) instead of back into s.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) float exp_shifted_avx512(float* s, int64_t n, float scale, float max,
                                                                       uint16_t* p16) {
  const __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 mask = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
    const __m512 p = _mm512_maskz_mov_ps(mask, simd::exp512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(mask, s + j), vs, vm)));
    sum = _mm512_add_ps(sum, p);
    if (!p16) {
      _mm512_mask_storeu_ps(s + j, mask, p);
      continue;
    }
    const __mmask16 pair_mask = mask == 0xFFFF ? mask : __mmask16((1u << (n - j + 1) / 2 * 2) - 1);
    _mm256_mask_storeu_epi16(p16 + j, pair_mask, (__m256i)_mm512_cvtneps_pbh(p));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float l : lanes) total += l;
  return total;
}

__attribute__((target("avx2,fma"))) float row_max_avx2(const float* s, int64_t n) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + j));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float total = *std::max_element(lanes, lanes + 8);
  for (; j < n; ++j) total = std::max(total, s[j]);
  return total;
}

__attribute__((target("avx2,fma"))) float exp_shifted_avx2(float* s, int64_t n, float scale, float max) {
  const __m256 vs = _mm256_set1_ps(scale), vm = _mm256_set1_ps(max);
  // exp256 takes arguments >= -88: below that the result is 0 in float32 anyway
  const __m256 floor = _mm256_set1_ps(-87.0f);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_max_ps(_mm256_fmsub_ps(_mm256_loadu_ps(s + j), vs, vm), floor);
    const __m256 p = simd::exp256(x);
    _mm256_storeu_ps(s + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float l : lanes) total += l;
  for (; j < n; ++j) total += (s[j] = std::exp(s[j] * scale - max));
  return total;
}

// By the GEMM's panel width: 32 AVX-512, 16 AVX2, else portable.
float row_max(const float* s, int64_t n, int width) {
  if (width == 32) return row_max_avx512(s, n);
  if (width == 16) return row_max_avx2(s, n);
  return *std::max_element(s, s + n);
}

float exp_shifted(float* s, int64_t n, float scale, float max, int width, uint16_t* p16) {
  if (width == 32) return exp_shifted_avx512(s, n, scale, max, p16);
  if (width == 16) return exp_shifted_avx2(s, n, scale, max);
  float total = 0;
  for (int64_t j = 0; j < n; ++j) total += (s[j] = std::exp(s[j] * scale - max));
  return total;
}

// Per-thread buffers, grown once to the largest shapes seen and then reused: no allocation per call.
struct Scratch {
  std::vector<float> packed_k, packed_v, scores, out, max, sum;
  std::vector<uint16_t> packed_k16, packed_v16, p16;  // p16: softmax weights in bf16 (bf16 products)
};

// The packed K and V tiles of one head in the precision of the products, and the two products on them.
struct HeadPanels {
  bool bf16;
  size_t k_tile, v_tile;  // elements per packed tile
  void pack(Scratch& t, const float* k, const float* v, int64_t ti, int64_t nj, int64_t hd, int64_t row) const {
    if (bf16) {
      gemm_pack_bf16_strided(k, nj, hd, row, t.packed_k16.data() + ti * k_tile);     // K_tile^T
      gemm_pack_bf16_transposed(v, hd, nj, row, t.packed_v16.data() + ti * v_tile);  // V_tile
    } else {
      gemm_pack_strided(k, nj, hd, row, t.packed_k.data() + ti * k_tile);
      gemm_pack_transposed(v, hd, nj, row, t.packed_v.data() + ti * v_tile);
    }
  }
  // S (M, N) = Q (M, hd) @ K_tile^T, Q rows lda floats apart
  void scores(const Scratch& t, int64_t ti, const float* q, int64_t M, int64_t hd, int64_t lda, int64_t N,
              float* S) const {
    if (bf16) gemm_packed_bf16_serial(q, M, hd, lda, t.packed_k16.data() + ti * k_tile, N, S, N, GemmEpilogue{});
    else gemm_packed_serial(q, M, hd, lda, t.packed_k.data() + ti * k_tile, N, S, N, GemmEpilogue{});
  }
  // O (M, hd) (+)= P (M, nj) @ V_tile, P from t.p16 (bf16, rows padded to even) or t.scores (float32)
  void values(const Scratch& t, int64_t ti, int64_t M, int64_t nj, int64_t hd, float* O, bool accumulate) const {
    GemmEpilogue ep;
    ep.accumulate = accumulate;
    const int64_t pairs = (nj + 1) / 2;
    if (bf16) gemm_packed_bf16_rounded_serial(t.p16.data(), M, nj, pairs, t.packed_v16.data() + ti * v_tile, hd, O, hd, ep);
    else gemm_packed_serial(t.scores.data(), M, nj, nj, t.packed_v.data() + ti * v_tile, hd, O, hd, ep);
  }
};

}  // namespace

void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out, bool bf16) {
  const int64_t D = H * hd;
  const int64_t row = 3 * D;  // floats per token in qkv
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int width = gemm_panel_width();
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t tile = std::min(kKeyTile, N), tiles = (N + tile - 1) / tile;
  const int64_t qblocks = (N + kQueryBlock - 1) / kQueryBlock;
  // Work items = (sequence, head, chunk of query blocks). K and V of the head are packed once per item, so
  // chunks only split a head when there are too few heads to keep every thread busy (the VAE has one).
  const int64_t threads = ThreadPool::global().size();
  const int64_t chunks = std::clamp<int64_t>((4 * threads + G * H - 1) / (G * H), 1, qblocks);
  const int64_t blocks_per_chunk = (qblocks + chunks - 1) / chunks;
  HeadPanels panels;
  panels.bf16 = bf16 && std::strcmp(gemm_bf16_kernel_name(), "avx512bf16") == 0;
  panels.k_tile = panels.bf16 ? gemm_packed_bf16_count(tile, hd) : gemm_packed_floats(tile, hd);
  panels.v_tile = panels.bf16 ? gemm_packed_bf16_count(hd, tile) : gemm_packed_floats(hd, tile);
  ThreadPool::global().parallel_for(G * H * chunks, 1, [&](int64_t w0, int64_t w1) {
    thread_local Scratch t;
    if (panels.bf16) {
      if (t.packed_k16.size() < panels.k_tile * tiles) t.packed_k16.resize(panels.k_tile * tiles);
      if (t.packed_v16.size() < panels.v_tile * tiles) t.packed_v16.resize(panels.v_tile * tiles);
    } else {
      if (t.packed_k.size() < panels.k_tile * tiles) t.packed_k.resize(panels.k_tile * tiles);
      if (t.packed_v.size() < panels.v_tile * tiles) t.packed_v.resize(panels.v_tile * tiles);
    }
    if (t.scores.size() < size_t(kQueryBlock * tile)) t.scores.resize(kQueryBlock * tile);
    if (panels.bf16 && t.p16.size() < size_t(kQueryBlock * (tile + 1))) t.p16.resize(kQueryBlock * (tile + 1));
    if (t.out.size() < size_t(kQueryBlock * hd)) t.out.resize(kQueryBlock * hd);
    t.max.resize(kQueryBlock);
    t.sum.resize(kQueryBlock);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w / (H * chunks), h = (w / chunks) % H, chunk = w % chunks;
      const float* base = qkv + g * N * row;
      const float* k = base + D + h * hd;      // (N, hd), rows `row` apart
      const float* v = base + 2 * D + h * hd;  // (N, hd)
      for (int64_t ti = 0; ti < tiles; ++ti) {
        const int64_t j0 = ti * tile, nj = std::min(tile, N - j0);
        panels.pack(t, k + j0 * row, v + j0 * row, ti, nj, hd, row);
      }
      const int64_t qb_end = std::min(qblocks, (chunk + 1) * blocks_per_chunk);
      for (int64_t qb = chunk * blocks_per_chunk; qb < qb_end; ++qb) {
        const int64_t i0 = qb * kQueryBlock, ni = std::min(kQueryBlock, N - i0);
        const float* q = base + i0 * row + h * hd;  // (ni, hd)
        std::fill(t.max.begin(), t.max.end(), kNegInf);
        std::fill(t.sum.begin(), t.sum.end(), 0.0f);
        for (int64_t ti = 0; ti < tiles; ++ti) {
          const int64_t j0 = ti * tile, nj = std::min(tile, N - j0);
          // S (ni, nj) = Q K_tile^T, unscaled
          panels.scores(t, ti, q, ni, hd, row, nj, t.scores.data());
          const int64_t p16_row = (nj + 1) / 2 * 2;
          for (int64_t i = 0; i < ni; ++i) {
            float* s = t.scores.data() + i * nj;
            const float new_max = std::max(t.max[i], row_max(s, nj, width) * scale);
            if (ti > 0) {  // rescale what earlier tiles accumulated
              const float correction = std::exp(t.max[i] - new_max);
              t.sum[i] *= correction;
              float* o = t.out.data() + i * hd;
              for (int64_t d = 0; d < hd; ++d) o[d] *= correction;
            }
            t.sum[i] += exp_shifted(s, nj, scale, new_max, width, panels.bf16 ? t.p16.data() + i * p16_row : nullptr);
            t.max[i] = new_max;
          }
          // O (ni, hd) (+)= P V_tile
          panels.values(t, ti, ni, nj, hd, t.out.data(), ti > 0);
        }
        for (int64_t i = 0; i < ni; ++i) {
          float* o = out + (g * N + i0 + i) * D + h * hd;
          const float inv = 1.0f / t.sum[i];
          for (int64_t d = 0; d < hd; ++d) o[d] = t.out[i * hd + d] * inv;
        }
      }
    }
  });
}


// in: qkv (G, N, 3D)
void kernel(const Context& ctx, const ops::Attention& op, const KernelArgs& a) {
  const Tensor& qkv = a.in[0];
  const int64_t D = qkv.dim(2) / 3;
  attention(qkv.f32(), qkv.dim(0), qkv.dim(1), op.heads, D / op.heads, a.out.f32(), ctx.precision == Precision::BF16);
}
}  // namespace skipdit::cpu
