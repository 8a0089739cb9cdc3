// One block per (sample, group), two passes for the statistics (mean, then centred squares) like the
// CPU twin. Fine for the VAE's 32 groups x batch; a split reduction would use more of a large GPU.
#include "cuda/ops/group_norm.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
constexpr int kThreads = 512;

__global__ void __launch_bounds__(kThreads) group_norm_kernel(const float* x, int64_t C, int64_t HW, int64_t groups,
                                                              int64_t frames, float eps, const float* gamma,
                                                              const float* beta, bool silu, float* y) {
  // block = (video, group); the group's values are a contiguous run of per*HW in each of the video's frames
  const int64_t video = blockIdx.x / groups, g = blockIdx.x % groups, per = C / groups, n = per * HW, total = n * frames;
  auto at = [&](int64_t i) { return ((video * frames + i / n) * C + g * per) * HW + i % n; };
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < total; i += kThreads) s += x[at(i)];
  const float mean = block_sum(s) / float(total);
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < total; i += kThreads) {
    const float d = x[at(i)] - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(block_sum(sq) / float(total) + eps);
  const int64_t c0 = g * per;
  for (int64_t i = threadIdx.x; i < total; i += kThreads) {
    const int64_t c = c0 + (i % n) / HW, j = at(i);
    float v = (x[j] - mean) * rstd * gamma[c] + beta[c];
    y[j] = silu ? silu_f(v) : v;
  }
}
}  // namespace

void group_norm(const float* x, int64_t B, int64_t C, int64_t HW, int64_t groups, float eps, const float* gamma,
                const float* beta, bool silu, float* y, cudaStream_t stream, int64_t frames) {
  if (B * C * HW == 0) return;
  group_norm_kernel<<<static_cast<unsigned>(B / frames * groups), kThreads, 0, stream>>>(x, C, HW, groups, frames, eps,
                                                                                       gamma, beta, silu, y);
  check_launch("group_norm", stream);
}


void kernel(const Context& ctx, const ops::GroupNorm& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  group_norm(fp(x), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), op.groups, op.eps, fp(a.in[1]), fp(a.in[2]), op.silu,
             fp(a.out), ctx.stream, op.frames);
}
}  // namespace skipdit::cuda
