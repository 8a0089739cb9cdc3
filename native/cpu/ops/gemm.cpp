#include "cpu/ops/gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtype_convert.h"
#include "core/thread_pool.h"
#include "cpu/ops/activations.h"
#include "cpu/ops/simd_math.h"

// Micro-kernel loops over the MR rows must unroll completely so the accumulators stay in registers (GCC 12
// otherwise keeps the AVX2 ones in memory, written back on every k step).
#define UNROLL_ROWS _Pragma("GCC unroll 16")

namespace skipdit::cpu {

namespace {

// Where a micro-tile lands: rows [m0, m0 + MR) and columns [n0, n0 + ncols) of C.
struct TileSpot {
  float* C;  // &C[m0][n0]
  int64_t ldc, m0, n0;
  int ncols;
  const GemmEpilogue* ep;
  uint16_t* C16;  // &ep->out_bf16[m0][n0] when the epilogue stores bf16
  const float* gate_row(int i) const {
    return ep->gate ? ep->gate + ((m0 + i) / ep->gate_rows) * ep->gate_stride + n0 : nullptr;
  }
};

// Scalar epilogue for one finished MR x nr_tile tile of sums (the portable kernels and odd edges).
void finish_tile(const float* tile, int mr, int nr_tile, const TileSpot& s) {
  const float* bias = s.ep->bias ? s.ep->bias + s.n0 : nullptr;
  for (int i = 0; i < mr; ++i) {
    const float* gate = s.gate_row(i);
    float* c = s.C + i * s.ldc;
    for (int j = 0; j < s.ncols; ++j) {
      float v = tile[i * nr_tile + j] + (bias ? bias[j] : 0.0f);
      if (s.ep->act == Epilogue::GeluTanh) v = gelu_tanh(v);
      c[j] = gate ? c[j] + gate[j] * v : s.ep->accumulate ? c[j] + v : v;
    }
  }
}

// ---- AVX-512: 8 rows x 32 columns in 16 zmm accumulators (c[i][0], c[i][1])
// Columns [16h, 16h + 16) of the tile: the mask of those that exist and the bias over them; false if none.
__attribute__((target("avx512f"), always_inline)) inline bool half_columns(const TileSpot& s, int h, __mmask16& mask,
                                                                           __m512& bias) {
  const int valid = std::min(16, s.ncols - 16 * h);
  if (valid <= 0) return false;
  mask = valid == 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1);
  bias = s.ep->bias ? _mm512_maskz_loadu_ps(mask, s.ep->bias + s.n0 + 16 * h) : _mm512_setzero_ps();
  return true;
}

// bias + act, rounded to bf16 (GemmEpilogue::out_bf16): only behind the dot-product kernel, so BW/VL are there.
template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"), noinline)) void store_bf16_avx512(
    const __m512 (&c)[MR][2], const TileSpot& s) {
  const GemmEpilogue& ep = *s.ep;
  __mmask16 mask;
  __m512 bias;
  for (int h = 0; h < 2 && half_columns(s, h, mask, bias); ++h) {
    for (int i = 0; i < MR; ++i) {
      __m512 v = _mm512_add_ps(c[i][h], bias);
      if (ep.act == Epilogue::GeluTanh) v = simd::gelu_tanh512(v);
      _mm256_mask_storeu_epi16(s.C16 + i * s.ldc + 16 * h, mask, (__m256i)_mm512_cvtneps_pbh(v));
    }
  }
}

template <int MR>
__attribute__((target("avx512f"), always_inline)) inline void store_avx512(__m512 (&c)[MR][2], const TileSpot& s) {
  if (s.C16) return store_bf16_avx512<MR>(c, s);
  const GemmEpilogue& ep = *s.ep;
  __mmask16 mask;
  __m512 bias;
  for (int h = 0; h < 2 && half_columns(s, h, mask, bias); ++h) {
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      __m512 v = _mm512_add_ps(c[i][h], bias);
      if (ep.act == Epilogue::GeluTanh) v = simd::gelu_tanh512(v);
      float* dst = s.C + i * s.ldc + 16 * h;
      if (const float* gate = s.gate_row(i))
        v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, gate + 16 * h), v, _mm512_maskz_loadu_ps(mask, dst));
      else if (ep.accumulate)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, dst));
      _mm512_mask_storeu_ps(dst, mask, v);
    }
  }
}

// float32 weights: per k, two 16-wide loads of the panel and MR broadcasts of A. NV = 1 computes only the
// first 16 columns of the panel: the last panel of an N with N % 32 <= 16 (attention's P V at head dim 72).
template <int MR, int NV>
__attribute__((target("avx512f"))) void f32_avx512(const float* A, int64_t lda, const void* panel, int64_t K,
                                                   const TileSpot& s) {
  const float* B = static_cast<const float*>(panel);
  __m512 c[MR][2];
  UNROLL_ROWS for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_loadu_ps(B + k * 32), b1 = NV == 2 ? _mm512_loadu_ps(B + k * 32 + 16) : b0;
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i * lda + k]);
      c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
      if (NV == 2) c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
    }
  }
  store_avx512<MR>(c, s);
}

// bf16 weights, AVX-512 BF16: A is bf16 too (pairs as uint32, lda counted in pairs); one vdpbf16ps adds
// a[2j] b[2j] + a[2j+1] b[2j+1] into float32 lane j, so each step covers two k.
template <int MR, int NV>
__attribute__((target("avx512f,avx512bf16"))) void bf16_avx512(const float* A, int64_t lda, const void* panel,
                                                               int64_t K, const TileSpot& s) {
  const uint32_t* Ab = reinterpret_cast<const uint32_t*>(A);
  const uint16_t* B = static_cast<const uint16_t*>(panel);
  const int64_t pairs = (K + 1) / 2;
  __m512 c[MR][2];
  UNROLL_ROWS for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < pairs; ++kk) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(B + kk * 64);
    const __m512bh b1 = NV == 2 ? (__m512bh)_mm512_loadu_si512(B + kk * 64 + 32) : b0;
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(int(Ab[i * lda + kk]));
      c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
      if (NV == 2) c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
    }
  }
  store_avx512<MR>(c, s);
}

// ---- AVX2 + FMA: 6 rows x 16 columns in 12 ymm accumulators (c0[i], c1[i]). They leave through a float
// tile: with 16 ymm registers, an epilogue reading them directly makes GCC spill in the k loop.
template <int MR>
__attribute__((target("avx2,fma"), always_inline)) inline void to_tile(const __m256 (&c0)[MR], const __m256 (&c1)[MR],
                                                                      float* tile) {
  UNROLL_ROWS for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(tile + i * 16, c0[i]);
    _mm256_store_ps(tile + i * 16 + 8, c1[i]);
  }
}

template <int MR>
__attribute__((target("avx2,fma"))) void store_avx2(const float* tile, const TileSpot& s) {
  const GemmEpilogue& ep = *s.ep;
  if (s.ncols < 16) {  // edge panel: scalar epilogue
    finish_tile(tile, MR, 16, s);
    return;
  }
  for (int h = 0; h < 2; ++h) {
    const __m256 bias = ep.bias ? _mm256_loadu_ps(ep.bias + s.n0 + 8 * h) : _mm256_setzero_ps();
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      __m256 v = _mm256_add_ps(_mm256_load_ps(tile + i * 16 + 8 * h), bias);
      if (ep.act == Epilogue::GeluTanh) v = simd::gelu_tanh256(v);
      float* dst = s.C + i * s.ldc + 8 * h;
      if (const float* gate = s.gate_row(i)) v = _mm256_fmadd_ps(_mm256_loadu_ps(gate + 8 * h), v, _mm256_loadu_ps(dst));
      else if (ep.accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(dst));
      _mm256_storeu_ps(dst, v);
    }
  }
}

template <int MR>
__attribute__((target("avx2,fma"))) void f32_avx2(const float* A, int64_t lda, const void* panel, int64_t K,
                                                 const TileSpot& s) {
  const float* B = static_cast<const float*>(panel);
  __m256 c0[MR], c1[MR];
  UNROLL_ROWS for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * 16), b1 = _mm256_loadu_ps(B + k * 16 + 8);
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i * lda + k);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
  }
  alignas(32) float tile[MR * 16];
  to_tile<MR>(c0, c1, tile);
  store_avx2<MR>(tile, s);
}

// c0[i] += A[i][0] * b0, c1[i] += A[i][0] * b1 for the MR rows of A (rows lda floats apart).
template <int MR>
__attribute__((target("avx2,fma"), always_inline)) inline void fma_rows(const float* A, int64_t lda, __m256 b0,
                                                                       __m256 b1, __m256 (&c0)[MR], __m256 (&c1)[MR]) {
  UNROLL_ROWS for (int i = 0; i < MR; ++i) {
    const __m256 a = _mm256_broadcast_ss(A + i * lda);
    c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
    c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
  }
}

// bf16 weights widened to float32 in registers: a 32-bit lane of a pair panel holds (k even, k odd) of one
// column; the even value is the low half shifted up, the odd one the high half with the low bits cleared.
// The even and odd halves are done one after the other, so 2 widened B registers are live at a time.
template <int MR>
__attribute__((target("avx2,fma"))) void bf16_avx2(const float* A, int64_t lda, const void* panel, int64_t K,
                                                  const TileSpot& s) {
  const uint16_t* B = static_cast<const uint16_t*>(panel);
  const __m256i high = _mm256_set1_epi32(int(0xFFFF0000u));
  __m256 c0[MR], c1[MR];
  UNROLL_ROWS for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  const __m256i* pairs = reinterpret_cast<const __m256i*>(B);
  // Whole pairs in the loop, an odd K's last even value after it (a test inside the loop measured 3-8% slower).
  int64_t kk = 0;
  for (; 2 * kk + 1 < K; ++kk) {
    fma_rows<MR>(A + 2 * kk, lda, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(pairs + 2 * kk), 16)),
                 _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(pairs + 2 * kk + 1), 16)), c0, c1);
    fma_rows<MR>(A + 2 * kk + 1, lda, _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256(pairs + 2 * kk), high)),
                 _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256(pairs + 2 * kk + 1), high)), c0, c1);
  }
  if (2 * kk < K)
    fma_rows<MR>(A + 2 * kk, lda, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(pairs + 2 * kk), 16)),
                 _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(pairs + 2 * kk + 1), 16)), c0, c1);
  alignas(32) float tile[MR * 16];
  to_tile<MR>(c0, c1, tile);
  store_avx2<MR>(tile, s);
}

// ---- portable: 4 rows x 8 columns
template <int MR>
void f32_portable(const float* A, int64_t lda, const void* panel, int64_t K, const TileSpot& s) {
  const float* B = static_cast<const float*>(panel);
  float tile[MR * 8] = {};
  for (int64_t k = 0; k < K; ++k)
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      const float a = A[i * lda + k];
      for (int j = 0; j < 8; ++j) tile[i * 8 + j] += a * B[k * 8 + j];
    }
  finish_tile(tile, MR, 8, s);
}

template <int MR>
void bf16_portable(const float* A, int64_t lda, const void* panel, int64_t K, const TileSpot& s) {
  const uint16_t* B = static_cast<const uint16_t*>(panel);
  float tile[MR * 8] = {};
  for (int64_t k = 0; k < K; ++k)
    UNROLL_ROWS for (int i = 0; i < MR; ++i) {
      const float a = A[i * lda + k];
      for (int j = 0; j < 8; ++j) tile[i * 8 + j] += a * bf16_to_f32(B[(k / 2) * 16 + j * 2 + k % 2]);
    }
  finish_tile(tile, MR, 8, s);
}

using Kernel = void (*)(const float*, int64_t, const void*, int64_t, const TileSpot&);

struct Isa {
  const char* name;
  int nr, mr;
  bool bf16_activations;  // A is rounded to bf16 pairs before the kernel (dot-product kernels)
  Kernel kernels[9];      // by row count 1..mr
  Kernel half_kernels[9] = {};  // the same for a panel's first nr / 2 columns only (where there are any)
};

// The AVX-512 kernels by row count, full panels (NV = 2) or their first half (NV = 1).
#define SKIPDIT_AVX512_KERNELS(fn, NV) \
  {nullptr, fn<1, NV>, fn<2, NV>, fn<3, NV>, fn<4, NV>, fn<5, NV>, fn<6, NV>, fn<7, NV>, fn<8, NV>}

// SKIPDIT_CPU_ISA=avx2|portable caps the choice (never above what the CPU supports).
int isa_cap() {
  const char* env = std::getenv("SKIPDIT_CPU_ISA");
  if (env && std::strcmp(env, "portable") == 0) return 0;
  if (env && std::strcmp(env, "avx2") == 0) return 1;
  return 2;
}

bool cpu_has(int level) {
  __builtin_cpu_init();
  if (level == 2) return __builtin_cpu_supports("avx512f");
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const Isa& f32_isa() {
  static const Isa chosen = [] {
    const int cap = isa_cap();
    if (cap >= 2 && cpu_has(2))
      return Isa{"avx512", 32, 8, false, SKIPDIT_AVX512_KERNELS(f32_avx512, 2), SKIPDIT_AVX512_KERNELS(f32_avx512, 1)};
    if (cap >= 1 && cpu_has(1))
      return Isa{"avx2", 16, 6, false, {nullptr, f32_avx2<1>, f32_avx2<2>, f32_avx2<3>, f32_avx2<4>, f32_avx2<5>,
                                        f32_avx2<6>, nullptr, nullptr}};
    return Isa{"portable", 8, 4, false, {nullptr, f32_portable<1>, f32_portable<2>, f32_portable<3>, f32_portable<4>,
                                         nullptr, nullptr, nullptr, nullptr}};
  }();
  return chosen;
}

const Isa& bf16_isa() {
  static const Isa chosen = [] {
    const int cap = isa_cap();
    // (every CPU with AVX-512 BF16 has BW and VL, which attention's bf16 stores use; checked all the same)
    if (cap >= 2 && cpu_has(2) && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
      return Isa{"avx512bf16", 32, 8, true, SKIPDIT_AVX512_KERNELS(bf16_avx512, 2),
                 SKIPDIT_AVX512_KERNELS(bf16_avx512, 1)};
    if (cap >= 1 && cpu_has(1))
      // 5 rows: 10 accumulators, 2 widened B, a broadcast and the mask (6 rows spilled)
      return Isa{"avx2", 16, 5, false, {nullptr, bf16_avx2<1>, bf16_avx2<2>, bf16_avx2<3>, bf16_avx2<4>, bf16_avx2<5>,
                                        nullptr, nullptr, nullptr}};
    return Isa{"portable", 8, 4, false, {nullptr, bf16_portable<1>, bf16_portable<2>, bf16_portable<3>,
                                         bf16_portable<4>, nullptr, nullptr, nullptr, nullptr}};
  }();
  return chosen;
}

constexpr int64_t kRowBlock = 64;  // rows of A per work item (several micro-tiles)

// One row of K floats -> Kp = K rounded up to even bf16 values (zero padded), round to nearest even.
__attribute__((target("avx512f,avx512bf16"))) void round_row_bf16(const float* a, int64_t K, uint16_t* o) {
  for (int64_t k = 0; k < K; k += 32) {
    const int64_t left = K - k;
    const __mmask16 lo = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __mmask16 hi = left >= 32 ? __mmask16(0xFFFF) : left <= 16 ? __mmask16(0) : __mmask16((1u << (left - 16)) - 1);
    const __mmask16 pairs = left >= 32 ? __mmask16(0xFFFF) : __mmask16((1u << (left + 1) / 2) - 1);
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, a + k + 16), _mm512_maskz_loadu_ps(lo, a + k));
    _mm512_mask_storeu_epi32(o + k, pairs, (__m512i)v);  // whole (k, k+1) pairs, the odd tail's partner 0
  }
}

// A (M, K) float32 -> (M, Kp) bf16.
void round_rows_bf16(const float* A, int64_t M, int64_t K, int64_t lda, uint16_t* out) {
  const int64_t Kp = (K + 1) / 2 * 2;
  ThreadPool::global().parallel_for(M, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) round_row_bf16(A + m * lda, K, out + m * Kp);
  });
}

// Runs `isa`'s kernels over all (panel, row block) items, on the pool or on the calling thread. lda is in
// the units the kernel reads (floats, or bf16 pairs for the dot-product kernels).
void run_packed(const Isa& isa, const float* A, int64_t M, int64_t K, int64_t lda, const void* packed,
                int64_t panel_bytes, int64_t N, float* C, int64_t ldc, const GemmEpilogue& ep, bool parallel = true) {
  const int64_t panels = (N + isa.nr - 1) / isa.nr, row_blocks = (M + kRowBlock - 1) / kRowBlock;
  const char* base = static_cast<const char*>(packed);
  // Items are (panel, row block), panel-major: a thread keeps one K x NR panel hot while it sweeps rows.
  auto work = [&](int64_t i0, int64_t i1) {
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t p = item / row_blocks, rb = item % row_blocks;
      const int64_t n0 = p * isa.nr;
      const int ncols = static_cast<int>(std::min<int64_t>(isa.nr, N - n0));
      const int64_t m_end = std::min(M, (rb + 1) * kRowBlock);
      for (int64_t m = rb * kRowBlock; m < m_end; m += isa.mr) {
        const int rows = static_cast<int>(std::min<int64_t>(isa.mr, m_end - m));
        const TileSpot spot{C ? C + m * ldc + n0 : nullptr, ldc, m, n0, ncols, &ep,
                            ep.out_bf16 ? ep.out_bf16 + m * ldc + n0 : nullptr};
        const float* a = isa.bf16_activations ? reinterpret_cast<const float*>(reinterpret_cast<const uint32_t*>(A) + m * lda)
                                              : A + m * lda;
        const Kernel kernel = ncols <= isa.nr / 2 && isa.half_kernels[rows] ? isa.half_kernels[rows] : isa.kernels[rows];
        kernel(a, lda, base + p * panel_bytes, K, spot);
      }
    }
  };
  const int64_t items = panels * row_blocks;
  if (!parallel) return work(0, items);
  // Threads claim runs of consecutive items from a shared counter, so a thread slowed down by the rest of the
  // machine does less instead of everyone waiting for its fixed share. A run is one whole panel (all its row
  // blocks) when there are plenty, shorter when there are few (N <= 32 still splits over the threads).
  ThreadPool& pool = ThreadPool::global();
  const int64_t run = std::clamp<int64_t>(items / (4 * pool.size()), 1, row_blocks);
  std::atomic<int64_t> next{0};
  pool.parallel_for(pool.size(), 1, [&](int64_t, int64_t) {
    for (int64_t i; (i = next.fetch_add(run, std::memory_order_relaxed)) < items;) work(i, std::min(items, i + run));
  });
}

}  // namespace

int gemm_panel_width() { return f32_isa().nr; }
const char* gemm_kernel_name() { return f32_isa().name; }
const char* gemm_bf16_kernel_name() { return bf16_isa().name; }

int64_t gemm_packed_floats(int64_t N, int64_t K) {
  const int64_t nr = f32_isa().nr;
  return (N + nr - 1) / nr * K * nr;
}

void gemm_pack(const float* w, int64_t N, int64_t K, float* packed) { gemm_pack_strided(w, N, K, K, packed); }

void gemm_pack_strided(const float* w, int64_t N, int64_t K, int64_t ldw, float* packed) {
  const int64_t nr = f32_isa().nr, panels = (N + nr - 1) / nr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t n0 = p * nr, width = std::min<int64_t>(nr, N - n0);
    float* dst = packed + p * K * nr;
    // k-major: contiguous stores; the `width` source rows are read in step, each sequentially
    for (int64_t k = 0; k < K; ++k, dst += nr) {
      for (int64_t j = 0; j < width; ++j) dst[j] = w[(n0 + j) * ldw + k];
      for (int64_t j = width; j < nr; ++j) dst[j] = 0.0f;
    }
  }
}

void gemm_pack_transposed(const float* v, int64_t N, int64_t K, int64_t ldv, float* packed) {
  const int64_t nr = f32_isa().nr, panels = (N + nr - 1) / nr;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t n0 = p * nr, width = std::min<int64_t>(nr, N - n0);
    for (int64_t k = 0; k < K; ++k) {  // row k of the panel is a slice of source row k
      float* dst = packed + (p * K + k) * nr;
      std::memcpy(dst, v + k * ldv + n0, width * sizeof(float));
      std::fill(dst + width, dst + nr, 0.0f);
    }
  }
}

int64_t gemm_packed_bf16_count(int64_t N, int64_t K) {
  const int64_t nr = bf16_isa().nr;
  return (N + nr - 1) / nr * ((K + 1) / 2) * nr * 2;
}

namespace {
// Pair panels (see gemm.h) of the (N, K) matrix whose element (n, k) is get(n, k), rounded to bf16.
template <class Get>
void pack_bf16_panels(int64_t N, int64_t K, uint16_t* packed, Get get) {
  const int64_t nr = bf16_isa().nr, panels = (N + nr - 1) / nr, pairs = (K + 1) / 2;
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t kk = 0; kk < pairs; ++kk)
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t n = p * nr + j, k = 2 * kk + h;
          packed[((p * pairs + kk) * nr + j) * 2 + h] = n < N && k < K ? f32_to_bf16(get(n, k)) : 0;
        }
}
}  // namespace

void gemm_pack_bf16(const float* w, int64_t N, int64_t K, uint16_t* packed) { gemm_pack_bf16_strided(w, N, K, K, packed); }

namespace {
// AVX-512 BF16 packing (the 32-wide pair panels of the dot-product kernel), for weights at load and for
// activations packed on the fly in attention: the generic loop above rounds one value at a time.

// Rows n of w (N, K), ldw floats apart: a row rounded to bf16 is already its sequence of (k, k+1) pairs, and
// pair kk of row n goes to lane n % 32 of row kk of panel n / 32.
__attribute__((target("avx512f,avx512bf16"))) void pack_bf16_rows_avx512(const float* w, int64_t N, int64_t K,
                                                                         int64_t ldw, uint16_t* packed) {
  const int64_t panels = (N + 31) / 32, pairs = (K + 1) / 2;
  uint32_t* out = reinterpret_cast<uint32_t*>(packed);
  std::memset(out, 0, sizeof(uint32_t) * panels * pairs * 32);  // lanes past N
  alignas(64) uint32_t row_pairs[16];
  for (int64_t n = 0; n < N; ++n) {
    uint32_t* dst = out + (n / 32) * pairs * 32 + n % 32;
    const float* src = w + n * ldw;
    for (int64_t k = 0; k < K; k += 32) {
      const int64_t count = std::min<int64_t>(32, K - k);
      round_row_bf16(src + k, count, reinterpret_cast<uint16_t*>(row_pairs));
      for (int64_t i = 0; i < (count + 1) / 2; ++i) dst[(k / 2 + i) * 32] = row_pairs[i];
    }
  }
}

// W[n][k] = v[k * ldv + n]: panel row kk interleaves source rows 2kk and 2kk+1 (a zero row past K).
__attribute__((target("avx512f,avx512bf16"))) void pack_bf16_transposed_avx512(const float* v, int64_t N, int64_t K,
                                                                               int64_t ldv, uint16_t* packed) {
  const int64_t panels = (N + 31) / 32, pairs = (K + 1) / 2;
  uint32_t* out = reinterpret_cast<uint32_t*>(packed);
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t kk = 0; kk < pairs; ++kk) {
      const float* even = v + 2 * kk * ldv + p * 32;
      const float* odd = 2 * kk + 1 < K ? even + ldv : nullptr;
      for (int h = 0; h < 2; ++h) {
        const int64_t left = N - p * 32 - 16 * h;
        const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
        const __m512i e = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, even + 16 * h)));
        const __m512i o = odd ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, odd + 16 * h)))
                              : _mm512_setzero_si512();
        _mm512_storeu_si512(out + (p * pairs + kk) * 32 + 16 * h, _mm512_or_si512(e, _mm512_slli_epi32(o, 16)));
      }
    }
}
}  // namespace

void gemm_pack_bf16_strided(const float* w, int64_t N, int64_t K, int64_t ldw, uint16_t* packed) {
  if (bf16_isa().bf16_activations) return pack_bf16_rows_avx512(w, N, K, ldw, packed);
  pack_bf16_panels(N, K, packed, [&](int64_t n, int64_t k) { return w[n * ldw + k]; });
}

void gemm_pack_bf16_transposed(const float* v, int64_t N, int64_t K, int64_t ldv, uint16_t* packed) {
  if (bf16_isa().bf16_activations) return pack_bf16_transposed_avx512(v, N, K, ldv, packed);
  pack_bf16_panels(N, K, packed, [&](int64_t n, int64_t k) { return v[k * ldv + n]; });
}

void gemm_packed(const float* A, int64_t M, int64_t K, int64_t lda, const float* packed, int64_t N, float* C,
                 const GemmEpilogue& epilogue) {
  const Isa& isa = f32_isa();
  run_packed(isa, A, M, K, lda, packed, K * isa.nr * int64_t(sizeof(float)), N, C, N, epilogue);
}

void gemm_packed_serial(const float* A, int64_t M, int64_t K, int64_t lda, const float* packed, int64_t N, float* C,
                        int64_t ldc, const GemmEpilogue& epilogue) {
  const Isa& isa = f32_isa();
  run_packed(isa, A, M, K, lda, packed, K * isa.nr * int64_t(sizeof(float)), N, C, ldc, epilogue, false);
}

namespace {
// The bf16-weight GEMM on A already in the dot-product kernel's input (bf16 pairs, lda_pairs apart), or for the
// widening kernels on float32 A: on the pool, or on the calling thread only.
void run_bf16(const void* A, int64_t M, int64_t K, int64_t lda, const uint16_t* packed, int64_t N, float* C,
              int64_t ldc, const GemmEpilogue& ep, bool parallel) {
  const Isa& isa = bf16_isa();
  const int64_t panel_bytes = (K + 1) / 2 * isa.nr * 2 * int64_t(sizeof(uint16_t));
  run_packed(isa, static_cast<const float*>(A), M, K, lda, packed, panel_bytes, N, C, ldc, ep, parallel);
}

// float32 A: rounded to bf16 pairs first for the dot-product kernel (into a grow-only buffer of the calling
// thread, sized by the largest activation seen), as it is for the widening kernels.
void run_bf16_from_f32(const float* A, int64_t M, int64_t K, int64_t lda, const uint16_t* packed, int64_t N,
                       float* C, int64_t ldc, const GemmEpilogue& ep, bool parallel) {
  if (!bf16_isa().bf16_activations) return run_bf16(A, M, K, lda, packed, N, C, ldc, ep, parallel);
  thread_local std::vector<uint16_t> rounded;
  const int64_t Kp = (K + 1) / 2 * 2;
  if (int64_t(rounded.size()) < M * Kp) rounded.resize(M * Kp);
  if (parallel) round_rows_bf16(A, M, K, lda, rounded.data());
  else for (int64_t m = 0; m < M; ++m) round_row_bf16(A + m * lda, K, rounded.data() + m * Kp);
  run_bf16(rounded.data(), M, K, Kp / 2, packed, N, C, ldc, ep, parallel);
}
}  // namespace

void gemm_packed_bf16(const float* A, int64_t M, int64_t K, int64_t lda, const uint16_t* packed, int64_t N, float* C,
                      const GemmEpilogue& epilogue) {
  run_bf16_from_f32(A, M, K, lda, packed, N, C, N, epilogue, true);
}

void gemm_packed_bf16_serial(const float* A, int64_t M, int64_t K, int64_t lda, const uint16_t* packed, int64_t N,
                             float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  run_bf16_from_f32(A, M, K, lda, packed, N, C, ldc, epilogue, false);
}

void gemm_packed_bf16_rounded(const uint16_t* A, int64_t M, int64_t K, int64_t lda_pairs, const uint16_t* packed,
                              int64_t N, float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  run_bf16(A, M, K, lda_pairs, packed, N, C, ldc, epilogue, true);
}

void gemm_packed_bf16_rounded_serial(const uint16_t* A, int64_t M, int64_t K, int64_t lda_pairs, const uint16_t* packed,
                                     int64_t N, float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  run_bf16(A, M, K, lda_pairs, packed, N, C, ldc, epilogue, false);
}

void round_to_bf16(const float* x, int64_t K, uint16_t* out) {
  if (bf16_isa().bf16_activations) {  // whole pairs: a zero after an odd K, hence the copy of the tail
    if (K % 2 == 0) return round_row_bf16(x, K, out);
    round_row_bf16(x, K - 1, out);
    out[K - 1] = f32_to_bf16(x[K - 1]);
    return;
  }
  for (int64_t k = 0; k < K; ++k) out[k] = f32_to_bf16(x[k]);
}

}  // namespace skipdit::cpu
