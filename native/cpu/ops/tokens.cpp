#include "cpu/ops/tokens.h"

#include <cstring>

#include "core/thread_pool.h"

namespace skipdit::cpu {

void add_broadcast_rows(float* x, int64_t G, int64_t N, int64_t D, const float* e) {
  ThreadPool::global().parallel_for(G * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* er = e + (r % N) * D;
      float* xr = x + r * D;
      for (int64_t i = 0; i < D; ++i) xr[i] += er[i];
    }
  });
}

void embedding_lookup(const float* table, int64_t D, const int64_t* labels, int64_t B, float* out) {
  for (int64_t b = 0; b < B; ++b) std::memcpy(out + b * D, table + labels[b] * D, D * sizeof(float));
}

void unpatchify(const float* tokens, int64_t B, int64_t G, int64_t p, int64_t C, float* out) {
  const int64_t S = G * p;  // output side
  ThreadPool::global().parallel_for(B * C, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t bc = i0; bc < i1; ++bc) {
      const int64_t b = bc / C, ch = bc % C;
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x) {
          const int64_t token = (y / p) * G + x / p;
          const int64_t feature = ((y % p) * p + x % p) * C + ch;
          out[(bc * S + y) * S + x] = tokens[(b * G * G + token) * p * p * C + feature];
        }
    }
  });
}

void swap_token_axes(const float* x, int64_t B, int64_t A1, int64_t A2, int64_t D, float* y) {
  ThreadPool::global().parallel_for(B * A1 * A2, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r indexes the source row (b, a1, a2)
      const int64_t b = r / (A1 * A2), a1 = (r / A2) % A1, a2 = r % A2;
      std::memcpy(y + ((b * A2 + a2) * A1 + a1) * D, x + r * D, D * sizeof(float));
    }
  });
}

}  // namespace skipdit::cpu
