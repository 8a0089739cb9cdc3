#include "cpu/ops/linear.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "cpu/ops/activations.h"

namespace skipdit::cpu {

namespace {

constexpr int kTileM = 4;  // rows of x per tile
constexpr int kTileN = 4;  // rows of w (output columns) per tile
constexpr int kLanes = 16;
typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));

inline vfloat load(const float* p) {
  vfloat v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline float hsum(vfloat v) {
  float s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// One (mt x nt) tile of dot products, mt <= 4, nt <= 4: 16 independent lane-parallel accumulators over K.
// Compiled for AVX-512, AVX2+FMA and baseline x86-64; the loader picks one at run time (ifunc).
// (The packed, cache-blocked micro-kernels come with the CPU speed work; this one is simple and exact-ish.)
__attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
void dot_tile(const float* x, int64_t K, const float* w, int mt, int nt, float* out /* [4][4] */) {
  vfloat acc[kTileM][kTileN] = {};
  const float* xr[kTileM];
  const float* wr[kTileN];
  for (int i = 0; i < kTileM; ++i) xr[i] = x + std::min(i, mt - 1) * K;
  for (int j = 0; j < kTileN; ++j) wr[j] = w + std::min(j, nt - 1) * K;
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes) {
    vfloat xv[kTileM], wv[kTileN];
    for (int i = 0; i < kTileM; ++i) xv[i] = load(xr[i] + k);
    for (int j = 0; j < kTileN; ++j) wv[j] = load(wr[j] + k);
    for (int i = 0; i < kTileM; ++i)
      for (int j = 0; j < kTileN; ++j) acc[i][j] += xv[i] * wv[j];
  }
  for (int i = 0; i < kTileM; ++i)
    for (int j = 0; j < kTileN; ++j) {
      float s = hsum(acc[i][j]);
      for (int64_t kk = k; kk < K; ++kk) s += xr[i][kk] * wr[j][kk];
      out[i * kTileN + j] = s;
    }
}

}  // namespace

void linear(const float* x, int64_t M, int64_t K, const float* w, const float* bias, int64_t N, float* y,
            Epilogue epilogue) {
  const int64_t tiles_m = (M + kTileM - 1) / kTileM;
  const int64_t tiles_n = (N + kTileN - 1) / kTileN;
  // Work items are (m-tile, n-tile) pairs, n fastest, so each thread streams a band of w per x tile.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, K * kTileM * kTileN));
  ThreadPool::global().parallel_for(tiles_m * tiles_n, grain, [&](int64_t begin, int64_t end) {
    float tile[kTileM * kTileN];
    for (int64_t t = begin; t < end; ++t) {
      const int64_t m0 = (t / tiles_n) * kTileM, n0 = (t % tiles_n) * kTileN;
      const int mt = static_cast<int>(std::min<int64_t>(kTileM, M - m0));
      const int nt = static_cast<int>(std::min<int64_t>(kTileN, N - n0));
      dot_tile(x + m0 * K, K, w + n0 * K, mt, nt, tile);
      for (int i = 0; i < mt; ++i)
        for (int j = 0; j < nt; ++j) {
          float v = tile[i * kTileN + j] + (bias ? bias[n0 + j] : 0.0f);
          y[(m0 + i) * N + n0 + j] = epilogue == Epilogue::GeluTanh ? gelu_tanh(v) : v;
        }
    }
  });
}

}  // namespace skipdit::cpu
