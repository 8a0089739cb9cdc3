#include "cpu/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"

namespace skipdit::cpu {

namespace {
constexpr int64_t kKeyTile = 64;     // keys whose scores exist at once
constexpr int64_t kQueryBlock = 16;  // queries sharing one transposed key tile
}  // namespace

void attention(const float* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, float* out) {
  const int64_t D = H * hd;
  const int64_t row = 3 * D;  // floats per token in qkv
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t qblocks = (N + kQueryBlock - 1) / kQueryBlock;
  // One work item = one (sequence, head, block of queries). Per key tile the keys are transposed to
  // (hd, tile) so that scores and the value mix are both contiguous axpy loops the compiler vectorises.
  ThreadPool::global().parallel_for(G * H * qblocks, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> kt(hd * kKeyTile), acc(kQueryBlock * hd), scores(kKeyTile);
    float running_max[kQueryBlock], denom[kQueryBlock];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w / (H * qblocks), h = (w / qblocks) % H, qb = w % qblocks;
      const int64_t i0 = qb * kQueryBlock, ni = std::min(kQueryBlock, N - i0);
      const float* base = qkv + g * N * row;
      const float* k = base + D + h * hd;
      const float* v = base + 2 * D + h * hd;
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(running_max, running_max + kQueryBlock, -std::numeric_limits<float>::infinity());
      std::fill(denom, denom + kQueryBlock, 0.0f);
      for (int64_t j0 = 0; j0 < N; j0 += kKeyTile) {
        const int64_t nj = std::min(kKeyTile, N - j0);
        for (int64_t j = 0; j < nj; ++j)
          for (int64_t d = 0; d < hd; ++d) kt[d * kKeyTile + j] = k[(j0 + j) * row + d];
        for (int64_t i = 0; i < ni; ++i) {
          const float* q = base + (i0 + i) * row + h * hd;
          float* s = scores.data();
          std::fill(s, s + nj, 0.0f);
          for (int64_t d = 0; d < hd; ++d) {
            const float qd = q[d];
            const float* ktd = kt.data() + d * kKeyTile;
            for (int64_t j = 0; j < nj; ++j) s[j] += qd * ktd[j];
          }
          float tile_max = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < nj; ++j) {
            s[j] *= scale;
            tile_max = std::max(tile_max, s[j]);
          }
          const float new_max = std::max(running_max[i], tile_max);
          const float correction = std::exp(running_max[i] - new_max);  // 0 on the first tile
          float* a = acc.data() + i * hd;
          float sum = denom[i] * correction;
          for (int64_t d = 0; d < hd; ++d) a[d] *= correction;
          for (int64_t j = 0; j < nj; ++j) {
            const float p = std::exp(s[j] - new_max);
            sum += p;
            const float* vj = v + (j0 + j) * row;
            for (int64_t d = 0; d < hd; ++d) a[d] += p * vj[d];
          }
          denom[i] = sum;
          running_max[i] = new_max;
        }
      }
      for (int64_t i = 0; i < ni; ++i) {
        float* o = out + (g * N + i0 + i) * D + h * hd;
        const float inv = 1.0f / denom[i];
        for (int64_t d = 0; d < hd; ++d) o[d] = acc[i * hd + d] * inv;
      }
    }
  });
}

}  // namespace skipdit::cpu
