#include "cuda/ops/cfg_guidance.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
// One thread per element of the conditional half; it writes the pair (cond, uncond) so in-place is safe.
// uncond + scale * (cond - uncond) with rounded intrinsics (no FMA contraction): the CPU twin's bits.
__global__ void cfg_kernel(const float* raw, int64_t half_total, int64_t row, int64_t C, int64_t HW,
                           int64_t guided, float scale, bool uncond_first, float* out) {
  CUDA_FOR(i, half_total) {
    const int64_t ch = (i / HW) % C;
    const float first = raw[i], second = raw[i + half_total];
    const float c = uncond_first ? second : first, u = uncond_first ? first : second;
    if (ch < guided) {
      const float g = __fadd_rn(u, __fmul_rn(scale, __fsub_rn(c, u)));
      out[i] = g;
      out[i + half_total] = g;
    } else {
      out[i] = first;
      out[i + half_total] = second;
    }
  }
}
}  // namespace

void cfg_guidance(const float* raw, int64_t B, int64_t F, int64_t C, int64_t HW, int64_t guided_channels, float scale,
                  bool uncond_first, float* out, cudaStream_t stream) {
  const int64_t row = F * C * HW, half_total = (B / 2) * row;
  if (half_total == 0) return;
  cfg_kernel<<<grid_for(half_total, 256), 256, 0, stream>>>(raw, half_total, row, C, HW, guided_channels, scale,
                                                            uncond_first, out);
  check_launch("cfg_guidance", stream);
}


void kernel(const Context& ctx, const ops::CfgGuidance& op, const KernelArgs& a) {
  const Tensor& raw = a.in[0];
  const int64_t B = raw.dim(0), HW = raw.numel() / (B * op.frames * op.channels);
  cfg_guidance(fp(raw), B, op.frames, op.channels, HW, op.guided_channels, op.scale, op.uncond_first, fp(a.out),
               ctx.stream);
}
}  // namespace skipdit::cuda
