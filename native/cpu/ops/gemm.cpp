#include "cpu/ops/gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/ops/activations.h"

namespace skipdit::cpu {

namespace {

// Adds the bias and applies the epilogue to one finished MR x NR tile, then stores its valid part.
inline void finish_tile(const float* tile, int mr, int nr_tile, int ncols, const float* bias, Epilogue ep, float* C,
                        int64_t ldc) {
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < ncols; ++j) {
      float v = tile[i * nr_tile + j] + (bias ? bias[j] : 0.0f);
      C[i * ldc + j] = ep == Epilogue::GeluTanh ? gelu_tanh(v) : v;
    }
}

// ---- AVX-512: 8 rows x 32 columns, 16 zmm accumulators
template <int MR>
__attribute__((target("avx512f"))) void kernel_avx512(const float* A, int64_t lda, const float* B, int64_t K, float* C,
                                                      int64_t ldc, int ncols, const float* bias, Epilogue ep) {
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_loadu_ps(B + k * 32), b1 = _mm512_loadu_ps(B + k * 32 + 16);
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i * lda + k]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
  }
  if (ncols == 32 && ep == Epilogue::None) {
    const __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      _mm512_storeu_ps(C + i * ldc, _mm512_add_ps(c0[i], bias0));
      _mm512_storeu_ps(C + i * ldc + 16, _mm512_add_ps(c1[i], bias1));
    }
    return;
  }
  alignas(64) float tile[MR * 32];
  for (int i = 0; i < MR; ++i) {
    _mm512_store_ps(tile + i * 32, c0[i]);
    _mm512_store_ps(tile + i * 32 + 16, c1[i]);
  }
  finish_tile(tile, MR, 32, ncols, bias, ep, C, ldc);
}

// ---- AVX2 + FMA: 6 rows x 16 columns, 12 ymm accumulators
template <int MR>
__attribute__((target("avx2,fma"))) void kernel_avx2(const float* A, int64_t lda, const float* B, int64_t K, float* C,
                                                    int64_t ldc, int ncols, const float* bias, Epilogue ep) {
  __m256 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * 16), b1 = _mm256_loadu_ps(B + k * 16 + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i * lda + k);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
  }
  alignas(32) float tile[MR * 16];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(tile + i * 16, c0[i]);
    _mm256_store_ps(tile + i * 16 + 8, c1[i]);
  }
  finish_tile(tile, MR, 16, ncols, bias, ep, C, ldc);
}

// ---- portable: 4 rows x 8 columns
template <int MR>
void kernel_portable(const float* A, int64_t lda, const float* B, int64_t K, float* C, int64_t ldc, int ncols,
                     const float* bias, Epilogue ep) {
  float tile[MR * 8] = {};
  for (int64_t k = 0; k < K; ++k)
    for (int i = 0; i < MR; ++i) {
      const float a = A[i * lda + k];
      for (int j = 0; j < 8; ++j) tile[i * 8 + j] += a * B[k * 8 + j];
    }
  finish_tile(tile, MR, 8, ncols, bias, ep, C, ldc);
}

using Kernel = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int, const float*, Epilogue);

struct Isa {
  const char* name;
  int nr, mr;
  Kernel kernels[9];  // by row count 1..mr
};

const Isa& isa() {
  static const Isa chosen = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
      return Isa{"avx512", 32, 8, {nullptr, kernel_avx512<1>, kernel_avx512<2>, kernel_avx512<3>, kernel_avx512<4>,
                                   kernel_avx512<5>, kernel_avx512<6>, kernel_avx512<7>, kernel_avx512<8>}};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Isa{"avx2", 16, 6, {nullptr, kernel_avx2<1>, kernel_avx2<2>, kernel_avx2<3>, kernel_avx2<4>, kernel_avx2<5>,
                                 kernel_avx2<6>, nullptr, nullptr}};
    return Isa{"portable", 8, 4, {nullptr, kernel_portable<1>, kernel_portable<2>, kernel_portable<3>, kernel_portable<4>,
                                  nullptr, nullptr, nullptr, nullptr}};
  }();
  return chosen;
}

constexpr int64_t kRowBlock = 64;  // rows of A per work item (several micro-tiles)

}  // namespace

int gemm_panel_width() { return isa().nr; }
const char* gemm_kernel_name() { return isa().name; }

int64_t gemm_packed_floats(int64_t N, int64_t K) {
  const int64_t nr = isa().nr;
  return (N + nr - 1) / nr * K * nr;
}

void gemm_pack(const float* w, int64_t N, int64_t K, float* packed) {
  const int64_t nr = isa().nr, panels = (N + nr - 1) / nr;
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < nr; ++j) {
        const int64_t n = p * nr + j;
        packed[(p * K + k) * nr + j] = n < N ? w[n * K + k] : 0.0f;
      }
}

void gemm_packed(const float* A, int64_t M, int64_t K, int64_t lda, const float* packed, int64_t N, const float* bias,
                 float* C, Epilogue epilogue) {
  const Isa& s = isa();
  const int64_t panels = (N + s.nr - 1) / s.nr, row_blocks = (M + kRowBlock - 1) / kRowBlock;
  // Items are (panel, row block), panel-major: a thread keeps one K x NR panel hot while it sweeps rows.
  ThreadPool::global().parallel_for(panels * row_blocks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t p = item / row_blocks, rb = item % row_blocks;
      const int64_t n0 = p * s.nr, ncols = std::min<int64_t>(s.nr, N - n0);
      const float* B = packed + p * K * s.nr;
      const int64_t m_end = std::min(M, (rb + 1) * kRowBlock);
      for (int64_t m = rb * kRowBlock; m < m_end; m += s.mr) {
        const int rows = static_cast<int>(std::min<int64_t>(s.mr, m_end - m));
        s.kernels[rows](A + m * lda, lda, B, K, C + m * N + n0, N, static_cast<int>(ncols), bias ? bias + n0 : nullptr, epilogue);
      }
    }
  });
}

}  // namespace skipdit::cpu
