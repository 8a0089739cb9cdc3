// T5's relative position bias: out (1, H, q_len, k_len) = table[bucket(j - i)] per head.
#include "cpu/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace skipdit::cpu {

namespace {

// transformers' T5Attention._relative_position_bucket for one offset rel = key - query. The large-offset
// branch in float32 as torch evaluates it: float32(|rel|) / max_exact, a float32 log (the correctly rounded
// one: log in double, rounded), divided by float32(log(max_distance / max_exact)) (a Python double made a
// float32 scalar), times (buckets - max_exact), truncated toward zero.
int64_t relative_position_bucket(int64_t rel, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
  int64_t bucket = 0, n = num_buckets;
  if (bidirectional) {
    n /= 2;
    if (rel > 0) bucket += n;
    rel = rel < 0 ? -rel : rel;
  } else {
    rel = rel < 0 ? -rel : 0;  // -min(rel, 0)
  }
  const int64_t max_exact = n / 2;
  if (rel < max_exact) return bucket + rel;
  const float ratio = static_cast<float>(rel) / static_cast<float>(max_exact);
  const float log_ratio = static_cast<float>(std::log(static_cast<double>(ratio)));
  const float log_range = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled = (log_ratio / log_range) * static_cast<float>(n - max_exact);
  return bucket + std::min<int64_t>(max_exact + static_cast<int64_t>(scaled), n - 1);
}

}  // namespace

// in: table (num_buckets, H); out (1, H, q_len, k_len)
void kernel(const Context&, const ops::RelativePositionBias& op, const KernelArgs& a) {
  const float* table = a.in[0].f32();
  const int64_t H = a.in[0].dim(1), Lq = op.q_len, Lk = op.k_len;
  // bucket of rel = j - i, stored at rel + Lq - 1
  std::vector<int64_t> buckets(Lq + Lk - 1);
  for (int64_t r = 0; r < Lq + Lk - 1; ++r)
    buckets[r] = relative_position_bucket(r - (Lq - 1), op.bidirectional, op.num_buckets, op.max_distance);
  float* out = a.out.f32();
  ThreadPool::global().parallel_for(H * Lq, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = h * Lq + i
      const int64_t h = r / Lq, i = r % Lq;
      const int64_t* b = buckets.data() + (Lq - 1 - i);  // b[j]: bucket of j - i
      float* o = out + r * Lk;
      for (int64_t j = 0; j < Lk; ++j) o[j] = table[b[j] * H + h];
    }
  });
}

}  // namespace skipdit::cpu
