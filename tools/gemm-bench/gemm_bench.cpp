// Micro-benchmark of the packed CPU GEMM on the DiT-XL/2 layer shapes (batch 2, 256 tokens each), against
// the FMA peak measured in the same process. Built by `cmake --build build --target skipdit_gemm_bench`.
//   SKIPDIT_NUM_THREADS=1 build/skipdit_gemm_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "cpu/ops/attention.h"
#include "cpu/ops/gemm.h"
#include "cpu/peak.h"

using namespace skipdit;

int main() {
  struct Shape { const char* name; int64_t M, N, K; };
  const Shape shapes[] = {{"qkv", 512, 3456, 1152}, {"proj", 512, 1152, 1152}, {"fc1", 512, 4608, 1152},
                          {"fc2", 512, 1152, 4608}, {"skip", 512, 1152, 2304}, {"adaLN", 2, 6912, 1152}};
  const cpu::PeakResult peak = cpu::measure_fma_peak(0.5);
  std::printf("kernels %s / bf16 %s, %d threads, FMA peak %.0f GFLOP/s\n", cpu::gemm_kernel_name(),
              cpu::gemm_bf16_kernel_name(), peak.threads, peak.gflops);
  for (const Shape& s : shapes) {
    std::vector<float> A(s.M * s.K), W(s.N * s.K), C(s.M * s.N), bias(s.N, 0.1f);
    for (size_t i = 0; i < A.size(); ++i) A[i] = float(i % 17) * 0.01f;
    for (size_t i = 0; i < W.size(); ++i) W[i] = float(i % 13) * 0.01f;
    std::vector<float> packed(cpu::gemm_packed_floats(s.N, s.K));
    std::vector<uint16_t> packed16(cpu::gemm_packed_bf16_count(s.N, s.K));
    cpu::gemm_pack(W.data(), s.N, s.K, packed.data());
    cpu::gemm_pack_bf16(W.data(), s.N, s.K, packed16.data());
    cpu::GemmEpilogue ep;
    ep.bias = bias.data();
    for (int bf16 = 0; bf16 < 2; ++bf16) {
      std::vector<double> times;
      for (int r = 0; r < 7; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        if (bf16) cpu::gemm_packed_bf16(A.data(), s.M, s.K, s.K, packed16.data(), s.N, C.data(), ep);
        else cpu::gemm_packed(A.data(), s.M, s.K, s.K, packed.data(), s.N, C.data(), ep);
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(times.begin(), times.end());
      const double gflops = 2.0 * s.M * s.N * s.K / times[3] / 1e9;
      std::printf("%-6s %-4s M %5lld N %5lld K %5lld  %8.2f ms  %6.1f GFLOP/s  %5.1f%% of fp32 peak\n", s.name,
                  bf16 ? "bf16" : "fp32", (long long)s.M, (long long)s.N, (long long)s.K, times[3] * 1e3, gflops,
                  100 * gflops / peak.gflops);
    }
  }
  // attention of DiT-XL/2 (2 images x 256 tokens, 16 heads of 72) and of DiT-S/2 (6 heads of 64)
  struct AttnShape { const char* name; int64_t G, N, H, hd; };
  for (const AttnShape& a : {AttnShape{"attn-XL", 2, 256, 16, 72}, AttnShape{"attn-S", 2, 256, 6, 64}}) {
    const int64_t D = a.H * a.hd;
    std::vector<float> qkv(a.G * a.N * 3 * D), out(a.G * a.N * D);
    for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = float(i % 23) * 0.01f;
    for (int bf16 = 0; bf16 < 2; ++bf16) {
      std::vector<double> times;
      for (int r = 0; r < 7; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        cpu::attention(qkv.data(), a.G, a.N, a.H, a.hd, out.data(), bf16 != 0);
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(times.begin(), times.end());
      const double gflops = 4.0 * a.G * a.N * a.N * D / times[3] / 1e9;
      std::printf("%-8s %-4s G %lld N %lld H %lld hd %lld  %8.2f ms  %6.1f GFLOP/s  %5.1f%% of fp32 peak\n", a.name,
                  bf16 ? "bf16" : "fp32", (long long)a.G, (long long)a.N, (long long)a.H, (long long)a.hd,
                  times[3] * 1e3, gflops, 100 * gflops / peak.gflops);
    }
  }
}
