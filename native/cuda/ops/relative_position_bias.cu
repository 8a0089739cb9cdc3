// T5's relative position bias (CPU twin: cpu/ops/relative_position_bias.cpp): one thread per output element
// (h, i, j), each computing the bucket of j - i with the CPU twin's float32 operations (__fdiv_rn / __fmul_rn:
// no contraction; the log in double, rounded to float32, as the CPU), so the buckets, and the output, are
// bit-identical.
#include "cuda/cuda_kernels.cuh"

#include <cmath>

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

struct BucketParams {
  bool bidirectional;
  int64_t num_buckets;
  float log_range;  // float32(log(max_distance / max_exact)), computed on the host
};

__device__ int64_t relative_position_bucket(int64_t rel, const BucketParams& p) {
  int64_t bucket = 0, n = p.num_buckets;
  if (p.bidirectional) {
    n /= 2;
    if (rel > 0) bucket += n;
    rel = rel < 0 ? -rel : rel;
  } else {
    rel = rel < 0 ? -rel : 0;  // -min(rel, 0)
  }
  const int64_t max_exact = n / 2;
  if (rel < max_exact) return bucket + rel;
  const float ratio = __fdiv_rn(static_cast<float>(rel), static_cast<float>(max_exact));
  const float log_ratio = static_cast<float>(log(static_cast<double>(ratio)));
  const float scaled = __fmul_rn(__fdiv_rn(log_ratio, p.log_range), static_cast<float>(n - max_exact));
  const int64_t large = max_exact + static_cast<int64_t>(scaled);
  return bucket + (large < n - 1 ? large : n - 1);
}

__global__ void relative_position_bias_kernel(const float* table, int64_t H, int64_t Lq, int64_t Lk, BucketParams p,
                                              float* out) {
  CUDA_FOR(e, H * Lq * Lk) {  // e = (h * Lq + i) * Lk + j
    const int64_t j = e % Lk, i = (e / Lk) % Lq, h = e / (Lq * Lk);
    out[e] = table[relative_position_bucket(j - i, p) * H + h];
  }
}

}  // namespace

// in: table (num_buckets, H) float32; out (1, H, q_len, k_len) float32
void kernel(const Context& ctx, const ops::RelativePositionBias& op, const KernelArgs& a) {
  const int64_t H = a.in[0].dim(1), total = H * op.q_len * op.k_len;
  if (total == 0) return;
  const int64_t max_exact = (op.bidirectional ? op.num_buckets / 2 : op.num_buckets) / 2;
  const BucketParams p{op.bidirectional, op.num_buckets,
                       static_cast<float>(std::log(static_cast<double>(op.max_distance) / static_cast<double>(max_exact)))};
  relative_position_bias_kernel<<<grid_for(total, 256), 256, 0, ctx.stream>>>(fp(a.in[0]), H, op.q_len, op.k_len, p,
                                                                              fp(a.out));
  check_launch("relative_position_bias", ctx.stream);
}

}  // namespace skipdit::cuda
