#include "cpu/peak.h"

#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/simd_math.h"

namespace skipdit::cpu {

namespace {

constexpr int kChains = 12;  // independent accumulators: enough to cover the FMA latency on two pipes

__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return double(simd::reduce_add512(s));  // keeps the loop alive
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_store_ps(out, s);
  return out[0];
}

// The portable kernel is plain C built for baseline x86-64: its ceiling is SSE multiply then add.
double mul_add_loop_sse(int64_t iters) {
  __m128 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm_set1_ps(1.0f + i * 1e-3f);
  const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], a), b);
  alignas(16) float out[4];
  __m128 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm_add_ps(s, acc[i]);
  _mm_store_ps(out, s);
  return out[0];
}

// vdpbf16ps: per fp32 lane a[2j] b[2j] + a[2j+1] b[2j+1] added in, 4 FLOPs.
__attribute__((target("avx512f,avx512bf16"))) double dot_bf16_loop_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F7F3F7F), b = (__m512bh)_mm512_set1_epi32(0x33D633D6);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return double(simd::reduce_add512(s));
}

}  // namespace

// Runs loop(iters) on every pool thread, growing iters until a run lasts about `seconds`; returns the rate in
// GFLOP/s for flops_per_iter per thread and iteration.
template <class Loop>
double measure(Loop loop, double flops_per_iter, double seconds) {
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.size();
  auto run = [&](int64_t iters) {
    std::atomic<double> sink{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sink.store(sink.load() + loop(iters));
    });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  int64_t iters = 1 << 16;
  double t = run(iters);
  while (t < seconds / 4) {  // grow until the run is long enough to time well
    iters *= 2;
    t = run(iters);
  }
  iters = static_cast<int64_t>(iters * (seconds / t));
  t = run(iters);
  return double(threads) * double(iters) * flops_per_iter / t / 1e9;
}

PeakResult measure_fma_peak(double seconds) {
  const bool avx512 = std::strcmp(gemm_kernel_name(), "avx512") == 0;
  const bool avx2 = std::strcmp(gemm_kernel_name(), "avx2") == 0;
  PeakResult result{0.0, ThreadPool::global().size(), gemm_kernel_name()};
  if (avx512) result.gflops = measure(fma_loop_avx512, kChains * 16 * 2.0, seconds);
  else if (avx2) result.gflops = measure(fma_loop_avx2, kChains * 8 * 2.0, seconds);
  else result.gflops = measure(mul_add_loop_sse, kChains * 4 * 2.0, seconds);
  if (std::strcmp(gemm_bf16_kernel_name(), "avx512bf16") == 0)
    result.bf16_gflops = measure(dot_bf16_loop_avx512, kChains * 16 * 4.0, seconds);
  return result;
}

}  // namespace skipdit::cpu
