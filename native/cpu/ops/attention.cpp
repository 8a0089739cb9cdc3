#include "cpu/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"

namespace skipdit::cpu {

namespace {
constexpr int64_t kKeyTile = 64;
}

void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out) {
  const int64_t D = H * hd;
  const int64_t row = 3 * D;  // floats per token in qkv
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  // One work item = one (sequence, head, query) triple.
  ThreadPool::global().parallel_for(G * H * N, 16, [&](int64_t w0, int64_t w1) {
    std::vector<float> acc(hd);
    float scores[kKeyTile];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w / (H * N), h = (w / N) % H, i = w % N;
      const float* base = qkv + g * N * row;
      const float* q = base + i * row + h * hd;
      const float* k = base + D + h * hd;
      const float* v = base + 2 * D + h * hd;
      float running_max = -std::numeric_limits<float>::infinity();
      float denom = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j0 = 0; j0 < N; j0 += kKeyTile) {
        const int64_t nj = std::min(kKeyTile, N - j0);
        float tile_max = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < nj; ++j) {
          const float* kj = k + (j0 + j) * row;
          float s = 0.0f;
          for (int64_t d = 0; d < hd; ++d) s += q[d] * kj[d];
          scores[j] = s * scale;
          tile_max = std::max(tile_max, scores[j]);
        }
        const float new_max = std::max(running_max, tile_max);
        const float correction = std::exp(running_max - new_max);  // 0 on the first tile
        denom *= correction;
        for (int64_t d = 0; d < hd; ++d) acc[d] *= correction;
        for (int64_t j = 0; j < nj; ++j) {
          const float p = std::exp(scores[j] - new_max);
          denom += p;
          const float* vj = v + (j0 + j) * row;
          for (int64_t d = 0; d < hd; ++d) acc[d] += p * vj[d];
        }
        running_max = new_max;
      }
      float* o = out + (g * N + i) * D + h * hd;
      const float inv = 1.0f / denom;
      for (int64_t d = 0; d < hd; ++d) o[d] = acc[d] * inv;
    }
  });
}

}  // namespace skipdit::cpu
