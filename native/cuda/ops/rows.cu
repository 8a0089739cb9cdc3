// Row and column data movement (graph/ops/rows.h; CPU twin: cpu/ops/rows.cpp), float32, one thread per output.
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

__global__ void slice_columns_kernel(const float* x, int64_t W, int64_t offset, int64_t width, int64_t total, float* y) {
  CUDA_FOR(i, total) y[i] = x[(i / width) * W + offset + i % width];
}

__global__ void add_group_rows_kernel(float* x, const float* e, int64_t N, int64_t D, int64_t total) {
  CUDA_FOR(i, total) x[i] += e[(i / (N * D)) * D + i % D];
}

__global__ void select_rows_kernel(const float* x, const float* keep, const float* table, int64_t L, int64_t D,
                                   int64_t total, float* y) {
  CUDA_FOR(i, total) {
    const int64_t row = i / D, l = row % L;
    y[i] = keep[row] != 0.0f ? x[i] : table[l * D + i % D];
  }
}

// One thread per (g, d): the N rows summed in double, as the CPU twin.
__global__ void mean_tokens_kernel(const float* x, int64_t N, int64_t D, int64_t total, float* y) {
  CUDA_FOR(i, total) {
    const int64_t g = i / D, d = i % D;
    double sum = 0;
    for (int64_t n = 0; n < N; ++n) sum += x[(g * N + n) * D + d];
    y[i] = static_cast<float>(sum / static_cast<double>(N));
  }
}

__global__ void concat_columns_kernel(const float* a, const float* b, int64_t A, int64_t B, int64_t total, float* y) {
  CUDA_FOR(i, total) {
    const int64_t r = i / (A + B), col = i % (A + B);
    y[i] = col < A ? a[r * A + col] : b[r * B + col - A];
  }
}

}  // namespace

void kernel(const Context& ctx, const ops::ConcatColumns&, const KernelArgs& a) {
  const int64_t total = a.out.numel();
  if (total == 0) return;
  concat_columns_kernel<<<grid_for(total, 256), 256, 0, ctx.stream>>>(fp(a.in[0]), fp(a.in[1]), a.in[0].dim(1), a.in[1].dim(1),
                                                                      total, fp(a.out));
  check_launch("concat_columns", ctx.stream);
}

void kernel(const Context& ctx, const ops::SliceColumns& op, const KernelArgs& a) {
  const int64_t total = a.out.numel();
  if (total == 0) return;
  slice_columns_kernel<<<grid_for(total, 256), 256, 0, ctx.stream>>>(fp(a.in[0]), a.in[0].dim(-1), op.offset, op.width,
                                                                     total, fp(a.out));
  check_launch("slice_columns", ctx.stream);
}

void kernel(const Context& ctx, const ops::AddGroupRows&, const KernelArgs& a) {
  const Tensor& x = a.out;
  const int64_t total = x.numel();
  if (total == 0) return;
  add_group_rows_kernel<<<grid_for(total, 256), 256, 0, ctx.stream>>>(fp(x), fp(a.in[1]), x.dim(1), x.dim(2), total);
  check_launch("add_group_rows", ctx.stream);
}

void kernel(const Context& ctx, const ops::SelectRows&, const KernelArgs& a) {
  const int64_t total = a.out.numel();
  if (total == 0) return;
  select_rows_kernel<<<grid_for(total, 256), 256, 0, ctx.stream>>>(fp(a.in[0]), fp(a.in[1]), fp(a.in[2]),
                                                                   a.in[0].dim(1), a.in[0].dim(2), total, fp(a.out));
  check_launch("select_rows", ctx.stream);
}

void kernel(const Context& ctx, const ops::MeanTokens&, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t total = x.dim(0) * x.dim(2);
  if (total == 0) return;
  mean_tokens_kernel<<<grid_for(total, 256), 256, 0, ctx.stream>>>(fp(x), x.dim(1), x.dim(2), total, fp(a.out));
  check_launch("mean_tokens", ctx.stream);
}

}  // namespace skipdit::cuda
