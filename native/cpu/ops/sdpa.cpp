// Scaled dot-product attention with separate q, k, v, an optional broadcast additive bias and an optional key
// mask (T5 / BERT text encoders, cross-attention to text). Work items are (sequence, head, chunk of query
// blocks); per item K and V of the head are packed once into GEMM panels (O(Lk hd) per thread), then per
// block of up to 64 queries the scores (block x Lk, at most 1 MB) come from one GEMM, each row gets its scale,
// bias and mask, a float32 softmax (max subtracted, exp, sum, times 1 / sum: PyTorch's order), and the
// normalised weights go through a second GEMM straight into the output rows.
#include "cpu/cpu_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/simd_math.h"

namespace skipdit::cpu {

namespace {

constexpr float kFinfoMin = -3.4028234663852886e38f;  // torch.finfo(torch.float32).min
constexpr int64_t kQueryBlock = 64;
constexpr int64_t kScoreFloats = int64_t(1) << 18;  // scores of one query block: at most 1 MB per thread

// s[j] = exp(s[j] - max) for j < n (s[j] <= max), returns the sum. The vector exps take arguments >= -87;
// below that the weight is < 2e-38 of the largest one and is set to 0.
__attribute__((target("avx512f"))) float exp_sum_avx512(float* s, int64_t n, float max) {
  const __m512 vm = _mm512_set1_ps(max), floor = _mm512_set1_ps(-87.0f);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 mask = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
    const __m512 x = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + j), vm);
    const __mmask16 keep = _mm512_mask_cmp_ps_mask(mask, x, floor, _CMP_GE_OQ);
    const __m512 p = _mm512_maskz_mov_ps(keep, simd::exp512(_mm512_max_ps(x, floor)));
    sum = _mm512_add_ps(sum, p);
    _mm512_mask_storeu_ps(s + j, mask, p);
  }
  return simd::reduce_add512(sum);
}

__attribute__((target("avx2,fma"))) float exp_sum_avx2(float* s, int64_t n, float max) {
  const __m256 vm = _mm256_set1_ps(max), floor = _mm256_set1_ps(-87.0f);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(s + j), vm);
    const __m256 keep = _mm256_cmp_ps(x, floor, _CMP_GE_OQ);
    const __m256 p = _mm256_and_ps(keep, simd::exp256(_mm256_max_ps(x, floor)));
    _mm256_storeu_ps(s + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float l : lanes) total += l;
  for (; j < n; ++j) total += (s[j] = std::exp(s[j] - max));
  return total;
}

// By the GEMM's panel width: 32 AVX-512, 16 AVX2, else portable.
float exp_sum(float* s, int64_t n, float max, int width) {
  if (width == 32) return exp_sum_avx512(s, n, max);
  if (width == 16) return exp_sum_avx2(s, n, max);
  float total = 0;
  for (int64_t j = 0; j < n; ++j) total += (s[j] = std::exp(s[j] - max));
  return total;
}

// s[j] = s[j] * scale + (bias[j] + (1 - mask[j]) * finfo.min), the parts that are given (T5: scores +=
// position_bias + mask; BERT: scores / sqrt(hd) + mask; diffusers: scale * scores + bias).
void scale_bias_mask(float* s, int64_t n, float scale, const float* bias, const float* mask) {
  if (bias && mask) {
    for (int64_t j = 0; j < n; ++j) s[j] = s[j] * scale + (bias[j] + (1.0f - mask[j]) * kFinfoMin);
  } else if (bias) {
    for (int64_t j = 0; j < n; ++j) s[j] = s[j] * scale + bias[j];
  } else if (mask) {
    for (int64_t j = 0; j < n; ++j) s[j] = s[j] * scale + (1.0f - mask[j]) * kFinfoMin;
  } else {
    for (int64_t j = 0; j < n; ++j) s[j] *= scale;
  }
}

struct Scratch {
  std::vector<float> packed_k, packed_v, scores;
};

struct SdpaArgs {
  const float *q, *k, *v;  // (G, Lq, D), (G, Lk, D), (G, Lk, D), D = H * hd
  int64_t G, Lq, Lk, H, hd;
  float scale;
  const float* bias;                     // or null; element (g, h, i, j) at g * bias_g + h * bias_h + i * bias_q + j
  int64_t bias_g, bias_h, bias_q;        // strides, 0 on broadcast axes
  const float* key_mask;                 // (G, Lk) or null
  float* out;                            // (G, Lq, D)
};

void sdpa(const SdpaArgs& p) {
  const int64_t H = p.H, hd = p.hd, D = H * hd, Lq = p.Lq, Lk = p.Lk;
  if (p.G * Lq * H == 0) return;
  const int width = gemm_panel_width();
  const int64_t qblock = std::clamp<int64_t>(kScoreFloats / Lk, 1, kQueryBlock);
  const int64_t qblocks = (Lq + qblock - 1) / qblock;
  // Chunks split a head's queries only when there are too few (sequence, head) pairs for the threads.
  const int64_t threads = ThreadPool::global().size();
  const int64_t chunks = std::clamp<int64_t>((4 * threads + p.G * H - 1) / (p.G * H), 1, qblocks);
  const int64_t blocks_per_chunk = (qblocks + chunks - 1) / chunks;
  const size_t k_floats = gemm_packed_floats(Lk, hd), v_floats = gemm_packed_floats(hd, Lk);
  ThreadPool::global().parallel_for(p.G * H * chunks, 1, [&](int64_t w0, int64_t w1) {
    thread_local Scratch t;
    if (t.packed_k.size() < k_floats) t.packed_k.resize(k_floats);
    if (t.packed_v.size() < v_floats) t.packed_v.resize(v_floats);
    if (t.scores.size() < size_t(qblock * Lk)) t.scores.resize(qblock * Lk);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w / (H * chunks), h = (w / chunks) % H, chunk = w % chunks;
      const int64_t qb_begin = chunk * blocks_per_chunk, qb_end = std::min(qblocks, qb_begin + blocks_per_chunk);
      if (qb_begin >= qb_end) continue;
      gemm_pack_strided(p.k + g * Lk * D + h * hd, Lk, hd, D, t.packed_k.data());       // K (Lk, hd): S = Q K^T
      gemm_pack_transposed(p.v + g * Lk * D + h * hd, hd, Lk, D, t.packed_v.data());    // V^T (hd, Lk): O = P V
      const float* mask = p.key_mask ? p.key_mask + g * Lk : nullptr;
      const float* bias = p.bias ? p.bias + g * p.bias_g + h * p.bias_h : nullptr;
      for (int64_t qb = qb_begin; qb < qb_end; ++qb) {
        const int64_t i0 = qb * qblock, ni = std::min(qblock, Lq - i0);
        const int64_t row0 = (g * Lq + i0) * D + h * hd;  // this block's first query / output row, head h
        float* S = t.scores.data();
        gemm_packed_serial(p.q + row0, ni, hd, D, t.packed_k.data(), Lk, S, Lk, GemmEpilogue{});
        for (int64_t i = 0; i < ni; ++i) {
          float* s = S + i * Lk;
          scale_bias_mask(s, Lk, p.scale, bias ? bias + (i0 + i) * p.bias_q : nullptr, mask);
          const float max = *std::max_element(s, s + Lk);
          const float inv = 1.0f / exp_sum(s, Lk, max, width);
          for (int64_t j = 0; j < Lk; ++j) s[j] *= inv;
        }
        gemm_packed_serial(S, ni, Lk, Lk, t.packed_v.data(), hd, p.out + row0, D, GemmEpilogue{});
      }
    }
  });
}

}  // namespace

// in: q (G, Lq, H*hd), k, v (G, Lk, H*hd), bias? (Gb, Hb, Lqb, Lk), key_mask? (G, Lk)
void kernel(const Context&, const ops::Sdpa& op, const KernelArgs& a) {
  const Tensor &q = a.in[0], &k = a.in[1], &bias = a.in[3];
  SdpaArgs p{};
  p.q = q.f32();
  p.k = k.f32();
  p.v = a.in[2].f32();
  p.G = q.dim(0);
  p.Lq = q.dim(1);
  p.Lk = k.dim(1);
  p.H = op.heads;
  p.hd = q.dim(2) / op.heads;
  p.scale = op.scale != 0.0f ? op.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.hd)));
  if (bias.defined()) {
    p.bias = bias.f32();
    p.bias_q = bias.dim(2) == 1 ? 0 : p.Lk;
    p.bias_h = bias.dim(1) == 1 ? 0 : bias.dim(2) * p.Lk;
    p.bias_g = bias.dim(0) == 1 ? 0 : bias.dim(1) * bias.dim(2) * p.Lk;
  }
  p.key_mask = f32_or_null(a.in[4]);
  p.out = a.out.f32();
  sdpa(p);
}

}  // namespace skipdit::cpu
