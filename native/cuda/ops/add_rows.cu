#include "cuda/ops/add_rows.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
__global__ void add_kernel(float* x, const float* y, int64_t n) {
  CUDA_FOR(i, n) x[i] += y[i];
}
template <typename T>
__global__ void add_rows_kernel(T* x, int64_t total, int64_t per_group, const float* e) {
  CUDA_FOR(i, total) x[i] = from_float<T>(to_float(x[i]) + e[i % per_group]);
}
}  // namespace

void add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, y, n);
  check_launch("add", stream);
}

template <typename T>
void add_broadcast_rows(T* x, int64_t G, int64_t N, int64_t D, const float* e, cudaStream_t stream) {
  const int64_t total = G * N * D;
  if (total == 0) return;
  add_rows_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, total, N * D, e);
  check_launch("add_broadcast_rows", stream);
}

#define SKIPDIT_ADD_ROWS(T) \
  template void add_broadcast_rows<T>(T*, int64_t, int64_t, int64_t, const float*, cudaStream_t);
SKIPDIT_FOR_ACT_TYPES(SKIPDIT_ADD_ROWS)
#undef SKIPDIT_ADD_ROWS


// in: x (= out), y
void kernel(const Context& ctx, const ops::Add&, const KernelArgs& a) {
  add(fp(a.out), fp(a.in[1]), a.out.numel(), ctx.stream);
}

// in: x (G, N, D) (= out), e (N, D) float32
void kernel(const Context& ctx, const ops::AddBroadcastRows&, const KernelArgs& a) {
  const Tensor& x = a.out;
  with_act_type(x, "add_broadcast_rows", [&](auto tag) {
    using T = typename decltype(tag)::type;
    add_broadcast_rows(ap<T>(x), x.dim(0), x.dim(1), x.dim(2), fp(a.in[1]), ctx.stream);
  });
}
}  // namespace skipdit::cuda
