// Measures this machine's fp32 FMA peak the way the benchmark harness reports it: every pool thread runs
// independent FMA chains on full-width registers (AVX-512 or AVX2, whichever the GEMM uses) for a while.
#pragma once

namespace skipdit::cpu {

struct PeakResult {
  double gflops;      // all threads together
  int threads;
  const char* isa;
};

PeakResult measure_fma_peak(double seconds = 0.3);

}  // namespace skipdit::cpu
