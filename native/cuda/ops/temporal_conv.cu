// The SVD VAE decoder's temporal convolution (graph/ops/temporal_conv.h; CPU twin: cpu/ops/temporal_conv.cpp):
// one thread per output element, the Cin * kt products accumulated in float32 in the CPU's order (bias first,
// then per input channel the taps k = 0..kt-1), frames outside the video skipped (zero padding). Neighbouring
// threads read neighbouring pixels of the same rows (coalesced); the weights are broadcast reads.
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

__global__ void temporal_conv_kernel(const float* x, const float* w, const float* bias, int64_t N, int64_t Cin,
                                     int64_t HW, int64_t Cout, int64_t kt, int64_t frames, float* y) {
  CUDA_FOR(idx, N * Cout * HW) {
    const int64_t p = idx % HW, r = idx / HW, o = r % Cout, n = r / Cout, f = n % frames;
    float acc = bias[o];
    for (int64_t i = 0; i < Cin; ++i) {
      for (int64_t k = 0; k < kt; ++k) {
        const int64_t src = f + k - kt / 2;
        if (src < 0 || src >= frames) continue;
        acc = __fadd_rn(acc, __fmul_rn(w[(o * Cin + i) * kt + k], x[((n - f + src) * Cin + i) * HW + p]));
      }
    }
    y[idx] = acc;
  }
}

}  // namespace

// in: x (N, Cin, H, W), w (Cout, Cin, kt, 1, 1), bias (Cout); out (N, Cout, H, W), float32
void kernel(const Context& ctx, const ops::TemporalConv& op, const KernelArgs& args) {
  const Tensor &x = args.in[0], &w = args.in[1];
  const int64_t N = x.dim(0), Cin = x.dim(1), HW = x.dim(2) * x.dim(3), Cout = w.dim(0);
  const int64_t n = N * Cout * HW;
  if (n == 0) return;
  temporal_conv_kernel<<<grid_for(n, 256), 256, 0, ctx.stream>>>(fp(x), fp(w), fp(args.in[2]), N, Cin, HW, Cout,
                                                                  w.dim(2), op.frames, fp(args.out));
  check_launch("temporal_conv", ctx.stream);
}

}  // namespace skipdit::cuda
