#include "cpu/ops/linear.h"
#include "cpu/cpu_kernels.h"
#include "cpu/ops/gate_residual.h"
#include "cpu/ops/gemm.h"

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


namespace {

// y (M, N) = epilogue(x (M, K) @ W^T) with W packed by prepare_linear (either precision); y's dtype decides
// between float32 and bf16 stores (operands), x's between float32 and pre-rounded bf16 rows.
void gemm(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, GemmEpilogue ep) {
  const int64_t K = x.dim(-1), M = x.numel() / K, N = y.dim(-1);
  ep.bias = bias.defined() ? bias.f32() : nullptr;
  if (x.dtype() == DType::BF16) {  // an operand stored in bf16 (operand_dtype); y is float32 or bf16
    SKIPDIT_CHECK(w.dtype() == DType::BF16 && ctx.bf16_operands, "linear with bf16 operands: weight " + w.describe());
    // rows of whole (k, k+1) pairs: operand widths are D, 2D and 4D with D a multiple of 4 (2-d sincos)
    SKIPDIT_CHECK(K % 2 == 0, "linear with bf16 operands: an even row length, got " + x.describe());
    ep.out_bf16 = bf16_or_null(y);
    gemm_packed_bf16_rounded(static_cast<const uint16_t*>(x.raw()), M, K, K / 2, static_cast<const uint16_t*>(w.raw()),
                             N, f32_or_null(y), N, ep);
    return;
  }
  if (w.dtype() == DType::BF16) {
    SKIPDIT_CHECK(w.numel() == gemm_packed_bf16_count(N, K), "linear (packed bf16) weight " + w.describe());
    gemm_packed_bf16(x.f32(), M, K, K, static_cast<const uint16_t*>(w.raw()), N, y.f32(), ep);
  } else {
    SKIPDIT_CHECK(w.numel() == gemm_packed_floats(N, K), "linear (packed) weight " + w.describe());
    gemm_packed(x.f32(), M, K, K, w.f32(), N, y.f32(), ep);
  }
}

}  // namespace

// in: x, w (packed, or a plain (N, K) float32 weight), bias?
void kernel(const Context& ctx, const ops::Linear& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &w = a.in[1], &bias = a.in[2];
  GemmEpilogue ep;
  ep.act = op.act == Activation::GeluTanh ? Epilogue::GeluTanh : Epilogue::None;
  if (w.ndim() == 1) return gemm(ctx, x, w, bias, a.out, ep);
  const int64_t K = x.dim(-1), M = x.numel() / K, N = w.dim(0);
  linear(x.f32(), M, K, w.f32(), bias.defined() ? bias.f32() : nullptr, N, a.out.f32(), ep.act);
}

// in: x, w, bias?, mod, h (= out)
void kernel(const Context& ctx, const ops::LinearGateResidual& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &w = a.in[1], &bias = a.in[2], &mod = a.in[3], &h = a.out;
  const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2);
  const CondRows cond{mod.f32(), mod.dim(1), op.group_repeat};
  if (w.ndim() != 1) {  // an unpacked weight: the product, then the gated residual
    Tensor y = Tensor::host(DType::F32, h.shape());
    linear(x.f32(), G * N, x.dim(-1), w.f32(), bias.defined() ? bias.f32() : nullptr, D, y.f32());
    gate_residual(h.f32(), y.f32(), G, N, D, cond, op.gate_chunk * D);
    return;
  }
  GemmEpilogue ep;
  ep.gate = cond.row(0, op.gate_chunk * D);
  ep.gate_rows = N * op.group_repeat;  // the token rows of group_repeat groups share one conditioning row
  ep.gate_stride = cond.stride;
  gemm(ctx, x, w, bias, h, ep);
}
}  // namespace skipdit::cpu
