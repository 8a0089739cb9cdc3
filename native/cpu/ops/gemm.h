// Packed GEMM: C (M, N) = epilogue(A (M, K) @ W (N, K)^T), with W pre-packed once into column panels.
//
// float32 weights: panel p holds columns [p*NR, p*NR + NR) as K rows of NR floats (zero padded past N), so
// the micro-kernel streams one contiguous K x NR block while MR rows of A are broadcast against it.
// bfloat16 weights: the same panels with k taken in pairs, (K+1)/2 rows of NR (k, k+1) pairs, the layout of
// the AVX-512 BF16 dot product (vdpbf16ps), which then also rounds A to bf16; CPUs without it widen the
// weights to float32 in the kernel and keep A in float32.
// The micro-kernel is chosen once at run time: AVX-512 (8 x 32), AVX2+FMA (6 x 16) or portable C (4 x 8);
// SKIPDIT_CPU_ISA=avx2|portable forces a lesser one (to measure what users without AVX-512 get).
// Work is split over (panel, row block) pairs on the shared thread pool; no allocation per call except a
// grow-only per-thread buffer for A in bf16.
#pragma once
#include <cstdint>

#include "cpu/ops/linear.h"

namespace skipdit::cpu {

// What happens to each finished value v = (A W^T)[m][n]: v += bias[n]; v = act(v); then either C[m][n] = v,
// or, with a gate, C[m][n] += gate_row(m)[n] * v where gate_row(m) = gate + (m / gate_rows) * gate_stride:
// adaLN-Zero's gated residual h += gate * (x W^T + b) done in the GEMM's store.
// With accumulate (and no gate), C[m][n] += v.
// With out_bf16 (no gate, no accumulate; the AVX-512 BF16 kernel only), v goes there rounded to bf16, rows
// ldc values apart, and C is not written: a product whose only reader is another bf16 GEMM.
struct GemmEpilogue {
  const float* bias = nullptr;
  Epilogue act = Epilogue::None;
  const float* gate = nullptr;
  int64_t gate_rows = 1;
  int64_t gate_stride = 0;
  bool accumulate = false;
  uint16_t* out_bf16 = nullptr;
};

// Columns per panel of the kernel this CPU runs (32, 16 or 8).
int gemm_panel_width();
// Name of the float32 kernel in use: "avx512", "avx2" or "portable".
const char* gemm_kernel_name();
// Name of the bfloat16-weight kernel in use: "avx512bf16" (dot products), "avx2" or "portable" (widening).
const char* gemm_bf16_kernel_name();

// Floats of a packed float32 (N, K) matrix; w (N, K) row-major -> packed.
int64_t gemm_packed_floats(int64_t N, int64_t K);
void gemm_pack(const float* w, int64_t N, int64_t K, float* packed);
// The same panels from strided sources, for packing activations on the fly (attention): w rows ldw floats
// apart; or the transpose, W[n][k] = v[k * ldv + n] (v holds K rows of N).
void gemm_pack_strided(const float* w, int64_t N, int64_t K, int64_t ldw, float* packed);
void gemm_pack_transposed(const float* v, int64_t N, int64_t K, int64_t ldv, float* packed);
// bf16 values (uint16) of a packed bf16 (N, K) matrix; w (N, K) float32 -> packed, rounded to nearest even.
int64_t gemm_packed_bf16_count(int64_t N, int64_t K);
void gemm_pack_bf16(const float* w, int64_t N, int64_t K, uint16_t* packed);
void gemm_pack_bf16_strided(const float* w, int64_t N, int64_t K, int64_t ldw, uint16_t* packed);
void gemm_pack_bf16_transposed(const float* v, int64_t N, int64_t K, int64_t ldv, uint16_t* packed);

// C (M, N) as described above; A rows are lda floats apart. C must not alias A.
void gemm_packed(const float* A, int64_t M, int64_t K, int64_t lda, const float* packed, int64_t N, float* C,
                 const GemmEpilogue& epilogue);
void gemm_packed_bf16(const float* A, int64_t M, int64_t K, int64_t lda, const uint16_t* packed, int64_t N, float* C,
                      const GemmEpilogue& epilogue);
// x (K floats) -> K bf16 values, round to nearest even (the rounding of the dot-product kernel's inputs).
void round_to_bf16(const float* x, int64_t K, uint16_t* out);

// GEMMs on the calling thread only (inside work that is already parallel), C rows ldc floats apart.
void gemm_packed_serial(const float* A, int64_t M, int64_t K, int64_t lda, const float* packed, int64_t N, float* C,
                        int64_t ldc, const GemmEpilogue& epilogue);
void gemm_packed_bf16_serial(const float* A, int64_t M, int64_t K, int64_t lda, const uint16_t* packed, int64_t N,
                             float* C, int64_t ldc, const GemmEpilogue& epilogue);
// The same with A already rounded: bf16 rows of K values padded to even with zeros, lda_pairs pairs apart. Only
// for the dot-product kernel (gemm_bf16_kernel_name() == "avx512bf16"), whose input this is.
void gemm_packed_bf16_rounded(const uint16_t* A, int64_t M, int64_t K, int64_t lda_pairs, const uint16_t* packed,
                              int64_t N, float* C, int64_t ldc, const GemmEpilogue& epilogue);
void gemm_packed_bf16_rounded_serial(const uint16_t* A, int64_t M, int64_t K, int64_t lda_pairs, const uint16_t* packed,
                                     int64_t N, float* C, int64_t ldc, const GemmEpilogue& epilogue);

}  // namespace skipdit::cpu
