// Row and column data movement (graph/ops/rows.h), float32.
#include "cpu/cpu_kernels.h"

#include <cstring>

#include "core/thread_pool.h"

namespace skipdit::cpu {

// in: x (..., W); out (..., width)
void kernel(const Context&, const ops::SliceColumns& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t W = x.dim(-1), rows = x.numel() / W;
  const float* src = x.f32() + op.offset;
  float* dst = a.out.f32();
  ThreadPool::global().parallel_for(rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(dst + r * op.width, src + r * W, op.width * sizeof(float));
  });
}

// in: x (G, N, D) (= out), e (G, D)
void kernel(const Context&, const ops::AddGroupRows&, const KernelArgs& a) {
  const Tensor& x = a.out;
  const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
  float* xp = x.f32();
  const float* e = a.in[1].f32();
  ThreadPool::global().parallel_for(G * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* er = e + (r / N) * D;
      float* xr = xp + r * D;
      for (int64_t i = 0; i < D; ++i) xr[i] += er[i];
    }
  });
}

// in: x (B, L, D), keep (B, L), table (L, D)
void kernel(const Context&, const ops::SelectRows&, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t B = x.dim(0), L = x.dim(1), D = x.dim(2);
  const float* keep = a.in[1].f32();
  const float* table = a.in[2].f32();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l) {
      const float* src = keep[b * L + l] != 0.0f ? x.f32() + (b * L + l) * D : table + l * D;
      std::memcpy(a.out.f32() + (b * L + l) * D, src, D * sizeof(float));
    }
}

// in: x (G, N, D); out (G, 1, D)
void kernel(const Context&, const ops::MeanTokens&, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t d = 0; d < D; ++d) {
      double sum = 0;
      for (int64_t n = 0; n < N; ++n) sum += x.f32()[(g * N + n) * D + d];
      a.out.f32()[g * D + d] = static_cast<float>(sum / static_cast<double>(N));
    }
}

// in: a (R, A), b (R, B); out (R, A + B)
void kernel(const Context&, const ops::ConcatColumns&, const KernelArgs& a) {
  const int64_t R = a.in[0].dim(0), A = a.in[0].dim(1), B = a.in[1].dim(1);
  for (int64_t r = 0; r < R; ++r) {
    std::memcpy(a.out.f32() + r * (A + B), a.in[0].f32() + r * A, A * sizeof(float));
    std::memcpy(a.out.f32() + r * (A + B) + A, a.in[1].f32() + r * B, B * sizeof(float));
  }
}

}  // namespace skipdit::cpu
