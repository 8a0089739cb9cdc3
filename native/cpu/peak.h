// Measures this machine's fp32 peak the way the benchmark harness reports it: every pool thread runs independent
// multiply-add chains on the registers the GEMM kernel uses (AVX-512 or AVX2 FMA; SSE multiply + add for the
// portable kernel) for a while.
#pragma once

namespace skipdit::cpu {

struct PeakResult {
  double gflops;      // all threads together
  int threads;
  const char* isa;
  // The AVX-512 BF16 dot-product peak (vdpbf16ps: 2 products per fp32 lane), the ceiling of models with
  // bfloat16 weights; 0 where the bf16 GEMM does not use dot products.
  double bf16_gflops = 0;
};

PeakResult measure_fma_peak(double seconds = 0.3);

}  // namespace skipdit::cpu
