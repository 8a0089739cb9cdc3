#include "cpu/ops/layer_norm.h"
#include "cpu/cpu_kernels.h"

#include <immintrin.h>

#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/simd_math.h"

namespace skipdit::cpu {

namespace {

struct Moments {
  float mean, rstd;
};

// Mean and 1/sqrt(var + eps) of the parts p0[0..n0) and p1[0..n1) taken together (biased variance), two
// passes. Portable: double accumulators. AVX-512: 16 float lanes per pass (per-lane sums of <= D/16 terms,
// then a float reduction; ~1e-7 relative at D = 1152), chosen with the GEMM's kernel (SKIPDIT_CPU_ISA).
Moments moments_portable(const float* p0, int64_t n0, const float* p1, int64_t n1, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n0; ++i) sum += p0[i];
  for (int64_t i = 0; i < n1; ++i) sum += p1[i];
  const double mean = sum / double(n0 + n1);
  double sq = 0;
  for (int64_t i = 0; i < n0; ++i) sq += (p0[i] - mean) * (p0[i] - mean);
  for (int64_t i = 0; i < n1; ++i) sq += (p1[i] - mean) * (p1[i] - mean);
  const double var = sq / double(n0 + n1);
  return {float(mean), float(1.0 / std::sqrt(var + double(eps)))};
}

__attribute__((target("avx512f"))) float sum_avx512(const float* p, int64_t n, float shift, bool square) {
  __m512 acc = _mm512_setzero_ps();
  const __m512 vs = _mm512_set1_ps(shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(p + i), vs);
    acc = square ? _mm512_fmadd_ps(d, d, acc) : _mm512_add_ps(acc, d);
  }
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + i), vs);
    acc = square ? _mm512_fmadd_ps(d, d, acc) : _mm512_add_ps(acc, d);
  }
  return simd::reduce_add512(acc);
}

// The AVX-512 row loops go with the GEMM's kernel (SKIPDIT_CPU_ISA caps both).
bool avx512_rows() {
  static const bool avx512 = gemm_panel_width() == 32;
  return avx512;
}

Moments moments(const float* p0, int64_t n0, const float* p1, int64_t n1, float eps) {
  if (!avx512_rows()) return moments_portable(p0, n0, p1, n1, eps);
  const float n = float(n0 + n1);
  const float mean = (sum_avx512(p0, n0, 0.0f, false) + (n1 ? sum_avx512(p1, n1, 0.0f, false) : 0.0f)) / n;
  const float var = (sum_avx512(p0, n0, mean, true) + (n1 ? sum_avx512(p1, n1, mean, true) : 0.0f)) / n;
  return {mean, float(1.0 / std::sqrt(double(var) + double(eps)))};
}

// y = ((x - mean) * rstd) * a + b over a row, a = gamma or 1 + scale (one_plus), b = beta or shift; a = b = null:
// the plain norm. The AVX-512 loop multiplies and adds exactly as the scalar one (no FMA): the same bits.
__attribute__((target("avx512f"))) void scale_shift_avx512(const float* x, int64_t n, Moments m, const float* a,
                                                           const float* b, bool one_plus, float* y) {
  const __m512 mean = _mm512_set1_ps(m.mean), rstd = _mm512_set1_ps(m.rstd), one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mean), rstd);
    if (a) {
      const __m512 av = _mm512_maskz_loadu_ps(k, a + i);
      v = _mm512_add_ps(_mm512_mul_ps(v, one_plus ? _mm512_add_ps(one, av) : av), _mm512_maskz_loadu_ps(k, b + i));
    }
    _mm512_mask_storeu_ps(y + i, k, v);
  }
}

void scale_shift(const float* x, int64_t n, Moments m, const float* a, const float* b, bool one_plus, float* y) {
  if (avx512_rows()) return scale_shift_avx512(x, n, m, a, b, one_plus, y);
  for (int64_t i = 0; i < n; ++i) {
    const float normed = (x[i] - m.mean) * m.rstd;
    y[i] = a ? normed * (one_plus ? 1.0f + a[i] : a[i]) + b[i] : normed;
  }
}

}  // namespace

void layer_norm(const float* x, int64_t rows, int64_t D, float eps, const float* gamma, const float* beta, float* y) {
  ThreadPool::global().parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      scale_shift(xr, D, moments(xr, D, nullptr, 0, eps), gamma, beta, false, y + r * D);
    }
  });
}

// Where row r of width `width` is computed: straight into y, or, for a bf16 output, a per-thread float row
// that finish() rounds into y16.
struct RowOut {
  float* y;
  uint16_t* y16;
  int64_t width;
  float* row(int64_t r, std::vector<float>& scratch) const {
    if (!y16) return y + r * width;
    if (int64_t(scratch.size()) < width) scratch.resize(width);
    return scratch.data();
  }
  void finish(int64_t r, const float* row) const {
    if (y16) round_to_bf16(row, width, y16 + r * width);
  }
};

void layer_norm_modulate(const float* x, int64_t G, int64_t N, int64_t D, float eps, CondRows cond, int64_t shift_col,
                         int64_t scale_col, float* y, uint16_t* y16) {
  const RowOut out{y, y16, D};
  ThreadPool::global().parallel_for(G * N, 16, [&](int64_t r0, int64_t r1) {
    thread_local std::vector<float> scratch;
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * D;
      const float* shift = cond.row(r / N, shift_col);
      const float* scale = cond.row(r / N, scale_col);
      const Moments m = moments(xr, D, nullptr, 0, eps);
      float* yr = out.row(r, scratch);
      scale_shift(xr, D, m, scale, shift, true, yr);
      out.finish(r, yr);
    }
  });
}

void layer_norm_concat(const float* a, const float* b, int64_t rows, int64_t D, float eps, const float* gamma,
                       const float* beta, float* y, uint16_t* y16) {
  const RowOut out{y, y16, 2 * D};
  ThreadPool::global().parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    thread_local std::vector<float> scratch;
    for (int64_t r = r0; r < r1; ++r) {
      const float* ar = a + r * D;
      const float* br = b + r * D;
      float* yr = out.row(r, scratch);
      Moments m = moments(ar, D, br, D, eps);
      scale_shift(ar, D, m, gamma, beta, false, yr);
      scale_shift(br, D, m, gamma + D, beta + D, false, yr + D);
      out.finish(r, yr);
    }
  });
}


// in: x, gamma?, beta?
void kernel(const Context&, const ops::LayerNorm& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &gamma = a.in[1], &beta = a.in[2];
  const int64_t D = x.dim(-1);
  layer_norm(x.f32(), x.numel() / D, D, op.eps, gamma.defined() ? gamma.f32() : nullptr,
             beta.defined() ? beta.f32() : nullptr, a.out.f32());
}

// in: a, b, gamma, beta; out float32 or bf16 (operands)
void kernel(const Context&, const ops::LayerNormConcat& op, const KernelArgs& a) {
  const int64_t D = a.in[0].dim(-1), rows = a.in[0].numel() / D;
  layer_norm_concat(a.in[0].f32(), a.in[1].f32(), rows, D, op.eps, a.in[2].f32(), a.in[3].f32(), f32_or_null(a.out),
                    bf16_or_null(a.out));
}

// in: x, mod; out float32 or bf16 (operands)
void kernel(const Context&, const ops::LayerNormModulate& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &mod = a.in[1];
  const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
  layer_norm_modulate(x.f32(), G, N, D, op.eps, CondRows{mod.f32(), mod.dim(1), op.group_repeat}, op.shift_chunk * D,
                      op.scale_chunk * D, f32_or_null(a.out), bf16_or_null(a.out));
}
}  // namespace skipdit::cpu
