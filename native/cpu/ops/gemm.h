// Packed GEMM: C (M, N) = A (M, K) @ W (N, K)^T + bias, with W pre-packed once into column panels.
//
// Panel p of the packed W holds columns [p*NR, p*NR + NR) as K rows of NR floats (zero padded past N), so the
// micro-kernel streams one contiguous K x NR block while MR rows of A are broadcast against it. NR and the
// micro-kernel are chosen once at run time: AVX-512 (8 x 32), AVX2+FMA (6 x 16) or portable C (4 x 8).
// Work is split over (panel, row block) pairs on the shared thread pool; no allocation per call.
#pragma once
#include <cstdint>

#include "cpu/ops/linear.h"

namespace skipdit::cpu {

// Columns per panel of the kernel this CPU runs (32, 16 or 8).
int gemm_panel_width();
// Name of the kernel in use: "avx512", "avx2" or "portable".
const char* gemm_kernel_name();
// Floats of a packed (N, K) matrix.
int64_t gemm_packed_floats(int64_t N, int64_t K);
// w (N, K) row-major -> packed.
void gemm_pack(const float* w, int64_t N, int64_t K, float* packed);
// C (M, N) = act(A (M, K) @ W^T + bias (N) or nullptr); A rows are lda floats apart.
void gemm_packed(const float* A, int64_t M, int64_t K, int64_t lda, const float* packed, int64_t N, const float* bias,
                 float* C, Epilogue epilogue = Epilogue::None);

}  // namespace skipdit::cpu
