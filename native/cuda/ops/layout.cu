// One thread per output element, reading its source: writes coalesce, reads are gathers (these ops move a
// few MB per step).
#include "cuda/ops/layout.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

template <typename T>
__global__ void unpatchify_kernel(const T* tokens, int64_t total, int64_t Gh, int64_t Gw, int64_t p, int64_t C,
                                  float* out) {
  const int64_t H = Gh * p, W = Gw * p;
  CUDA_FOR(i, total) {  // i = ((b*C + ch)*H + y)*W + x
    const int64_t x = i % W, y = (i / W) % H, bc = i / (H * W), b = bc / C, ch = bc % C;
    const int64_t token = (y / p) * Gw + x / p, feature = ((y % p) * p + x % p) * C + ch;
    out[i] = to_float(tokens[(b * Gh * Gw + token) * p * p * C + feature]);
  }
}

template <typename T>
__global__ void swap_axes_kernel(const T* x, int64_t total, int64_t A1, int64_t A2, int64_t D, T* y) {
  CUDA_FOR(i, total) {  // i indexes y (b, a2, a1, d)
    const int64_t d = i % D, a1 = (i / D) % A1, a2 = (i / (D * A1)) % A2, b = i / (D * A1 * A2);
    y[i] = x[((b * A1 + a1) * A2 + a2) * D + d];
  }
}

__global__ void upsample_kernel(const float* x, int64_t total, int64_t H, int64_t W, float* y) {
  CUDA_FOR(i, total) {  // i indexes y (n, oy, ox)
    const int64_t ox = i % (2 * W), oy = (i / (2 * W)) % (2 * H), n = i / (4 * H * W);
    y[i] = x[(n * H + oy / 2) * W + ox / 2];
  }
}

}  // namespace

template <typename T>
void unpatchify(const T* tokens, int64_t B, int64_t Gh, int64_t Gw, int64_t p, int64_t C, float* out,
                cudaStream_t stream) {
  const int64_t total = B * C * Gh * p * Gw * p;
  if (total == 0) return;
  unpatchify_kernel<<<grid_for(total, 256), 256, 0, stream>>>(tokens, total, Gh, Gw, p, C, out);
  check_launch("unpatchify", stream);
}

template <typename T>
void swap_token_axes(const T* x, int64_t B, int64_t A1, int64_t A2, int64_t D, T* y, cudaStream_t stream) {
  const int64_t total = B * A1 * A2 * D;
  if (total == 0) return;
  swap_axes_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, total, A1, A2, D, y);
  check_launch("swap_token_axes", stream);
}

void upsample_nearest2x(const float* x, int64_t N, int64_t H, int64_t W, float* y, cudaStream_t stream) {
  const int64_t total = N * 4 * H * W;
  if (total == 0) return;
  upsample_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, total, H, W, y);
  check_launch("upsample_nearest2x", stream);
}

#define SKIPDIT_LAYOUT(T)                                                                                  \
  template void unpatchify<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, float*, cudaStream_t); \
  template void swap_token_axes<T>(const T*, int64_t, int64_t, int64_t, int64_t, T*, cudaStream_t);
SKIPDIT_FOR_ACT_TYPES(SKIPDIT_LAYOUT)
#undef SKIPDIT_LAYOUT


void kernel(const Context& ctx, const ops::Copy&, const KernelArgs& a) {
  CUDA_CHECK(cudaMemcpyAsync(a.out.raw(), a.in[0].raw(), a.in[0].nbytes(), cudaMemcpyDeviceToDevice, ctx.stream));
}

// in: x (batch*A1, A2, D)
void kernel(const Context& ctx, const ops::SwapTokenAxes& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  with_act_type(x, "swap_token_axes", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swap_token_axes(ap<T>(x), op.batch, x.dim(0) / op.batch, x.dim(1), x.dim(2), ap<T>(a.out), ctx.stream);
  });
}

// in: tokens (B, G*G, p*p*C) of the activation type; out (B, C, G*p, G*p) float32
void kernel(const Context& ctx, const ops::Unpatchify& op, const KernelArgs& a) {
  const Tensor& out = a.out;
  with_act_type(a.in[0], "unpatchify", [&](auto tag) {
    using T = typename decltype(tag)::type;
    unpatchify(ap<T>(a.in[0]), out.dim(0), out.dim(2) / op.patch, out.dim(3) / op.patch, op.patch, out.dim(1), fp(out),
               ctx.stream);
  });
}

void kernel(const Context& ctx, const ops::UpsampleNearest2x&, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  upsample_nearest2x(fp(x), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), fp(a.out), ctx.stream);
}
}  // namespace skipdit::cuda
