#include "cpu/ops/attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/simd_math.h"

namespace skipdit::cpu {

namespace {

constexpr int64_t kQueryBlock = 64;  // queries per work item (rows of the score GEMM)
constexpr int64_t kKeyTile = 256;    // keys whose scores exist at once (columns of the score GEMM)

// p[j] = exp(s[j] * scale - max) for j < n, returns the sum.
__attribute__((target("avx512f"))) float exp_shifted_avx512(float* s, int64_t n, float scale, float max) {
  const __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 p = simd::exp512(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), vs, vm));
    _mm512_storeu_ps(s + j, p);
    sum = _mm512_add_ps(sum, p);
  }
  float total = _mm512_reduce_add_ps(sum);
  for (; j < n; ++j) total += (s[j] = std::exp(s[j] * scale - max));
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
float exp_shifted(float* s, int64_t n, float scale, float max, int width) {
  if (width == 32) return exp_shifted_avx512(s, n, scale, max);
  if (width == 16) return exp_shifted_avx2(s, n, scale, max);
  float total = 0;
  for (int64_t j = 0; j < n; ++j) total += (s[j] = std::exp(s[j] * scale - max));
  return total;
}

// Per-thread buffers, grown once to the largest shapes seen and then reused: no allocation per call.
struct Scratch {
  std::vector<float> packed_k, packed_v, scores, out, max, sum;
};

}  // namespace

void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out) {
  const int64_t D = H * hd;
  const int64_t row = 3 * D;  // floats per token in qkv
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t qblocks = (N + kQueryBlock - 1) / kQueryBlock;
  const int width = gemm_panel_width();
  const float kNegInf = -std::numeric_limits<float>::infinity();
  // One work item = one (sequence, head, block of queries). Per key tile: S = Q K^T (packed GEMM), the online
  // softmax update (running max and sum, earlier output rows rescaled), then O += P V (packed GEMM).
  ThreadPool::global().parallel_for(G * H * qblocks, 1, [&](int64_t w0, int64_t w1) {
    thread_local Scratch t;
    const int64_t tile = std::min(kKeyTile, N);
    const size_t k_size = gemm_packed_floats(tile, hd), v_size = gemm_packed_floats(hd, tile);
    if (t.packed_k.size() < k_size) t.packed_k.resize(k_size);
    if (t.packed_v.size() < v_size) t.packed_v.resize(v_size);
    if (t.scores.size() < size_t(kQueryBlock * tile)) t.scores.resize(kQueryBlock * tile);
    if (t.out.size() < size_t(kQueryBlock * hd)) t.out.resize(kQueryBlock * hd);
    t.max.resize(kQueryBlock);
    t.sum.resize(kQueryBlock);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w / (H * qblocks), h = (w / qblocks) % H, qb = w % qblocks;
      const int64_t i0 = qb * kQueryBlock, ni = std::min(kQueryBlock, N - i0);
      const float* base = qkv + g * N * row;
      const float* q = base + i0 * row + h * hd;  // (ni, hd), rows `row` apart
      const float* k = base + D + h * hd;         // (N, hd)
      const float* v = base + 2 * D + h * hd;     // (N, hd)
      std::fill(t.max.begin(), t.max.end(), kNegInf);
      std::fill(t.sum.begin(), t.sum.end(), 0.0f);
      for (int64_t j0 = 0; j0 < N; j0 += tile) {
        const int64_t nj = std::min(tile, N - j0);
        // S (ni, nj) = Q K_tile^T, unscaled
        gemm_pack_strided(k + j0 * row, nj, hd, row, t.packed_k.data());
        gemm_packed_serial(q, ni, hd, row, t.packed_k.data(), nj, t.scores.data(), nj, GemmEpilogue{});
        for (int64_t i = 0; i < ni; ++i) {
          float* s = t.scores.data() + i * nj;
          float tile_max = kNegInf;
          for (int64_t j = 0; j < nj; ++j) tile_max = std::max(tile_max, s[j]);
          const float new_max = std::max(t.max[i], tile_max * scale);
          if (j0 > 0) {  // rescale what earlier tiles accumulated
            const float correction = std::exp(t.max[i] - new_max);
            t.sum[i] *= correction;
            float* o = t.out.data() + i * hd;
            for (int64_t d = 0; d < hd; ++d) o[d] *= correction;
          }
          t.sum[i] += exp_shifted(s, nj, scale, new_max, width);
          t.max[i] = new_max;
        }
        // O (ni, hd) (+)= P V_tile
        gemm_pack_transposed(v + j0 * row, hd, nj, row, t.packed_v.data());
        GemmEpilogue ep;
        ep.accumulate = j0 > 0;
        gemm_packed_serial(t.scores.data(), ni, nj, nj, t.packed_v.data(), hd, t.out.data(), hd, ep);
      }
      for (int64_t i = 0; i < ni; ++i) {
        float* o = out + (g * N + i0 + i) * D + h * hd;
        const float inv = 1.0f / t.sum[i];
        for (int64_t d = 0; d < hd; ++d) o[d] = t.out[i * hd + d] * inv;
      }
    }
  });
}

}  // namespace skipdit::cpu
