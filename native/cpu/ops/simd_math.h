// Vector exp and GELU(tanh) for the GEMM epilogue (AVX-512 and AVX2 variants of the scalar gelu_tanh in
// activations.h). exp: Cephes-style range reduction (x = n ln2 + r, |r| <= ln2/2) and a degree-6 polynomial,
// within 2 ulp on [-88, 88]; tanh(u) = (e - 1) / (e + 1) with e = exp(2u), u clamped to +-9 where tanh is
// +-1 in float32. Absolute error of GELU ~1e-7 |x|, far inside the 1e-5 model tolerance.
#pragma once
#include <immintrin.h>

// GCC 12's own intrinsics (_mm512_scalef_ps -> _mm512_undefined_ps) self-initialise a variable and warn.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace skipdit::cpu::simd {

constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
constexpr float kGeluBeta = 0.7978845608028654f, kGeluKappa = 0.044715f, kTanhClamp = 9.0f;

// The sum of the 16 lanes, added in the order of GCC's _mm512_reduce_add_ps (halves, then quarters, then pairs),
// so results are unchanged; GCC 12's own version (and its 512->256 casts) warn about an uninitialised
// variable inside its header. Once per row: scalar adds are fine.
__attribute__((target("avx512f"))) inline float reduce_add512(__m512 v) {
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  float half[8], quarter[4];
  for (int j = 0; j < 8; ++j) half[j] = l[j + 8] + l[j];
  for (int j = 0; j < 4; ++j) quarter[j] = half[j + 4] + half[j];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

__attribute__((target("avx512f"))) inline __m512 exp512(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);  // p * 2^n
}

__attribute__((target("avx512f"))) inline __m512 gelu_tanh512(__m512 x) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  __m512 u = _mm512_mul_ps(_mm512_set1_ps(kGeluBeta), _mm512_fmadd_ps(_mm512_set1_ps(kGeluKappa), x3, x));
  u = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-kTanhClamp)), _mm512_set1_ps(kTanhClamp));
  const __m512 e = exp512(_mm512_add_ps(u, u)), one = _mm512_set1_ps(1.0f);
  const __m512 t = _mm512_div_ps(_mm512_sub_ps(e, one), _mm512_add_ps(e, one));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(one, t));
}

__attribute__((target("avx2,fma"))) inline __m256 exp256(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n through the exponent bits (callers clamp x to +-18, so n is within [-26, 26])
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) inline __m256 gelu_tanh256(__m256 x) {
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  __m256 u = _mm256_mul_ps(_mm256_set1_ps(kGeluBeta), _mm256_fmadd_ps(_mm256_set1_ps(kGeluKappa), x3, x));
  u = _mm256_min_ps(_mm256_max_ps(u, _mm256_set1_ps(-kTanhClamp)), _mm256_set1_ps(kTanhClamp));
  const __m256 e = exp256(_mm256_add_ps(u, u)), one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(_mm256_sub_ps(e, one), _mm256_add_ps(e, one));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, t));
}

}  // namespace skipdit::cpu::simd
