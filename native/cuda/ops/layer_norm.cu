// One block per row. Two passes over the row (mean, then the centred sum of squares, as the CPU twin does
// in double) keep the variance accurate when the mean is large; the row stays in L1/L2 between passes.
#include "cuda/ops/layer_norm.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>  // element type of x / a / b and y; statistics, affine and mod are float32
struct NormArgs {
  const T* a;          // first part (rows, D)
  const T* b;          // second part (rows, D) or null (then the row is a alone)
  int64_t D;
  float eps;
  const float* gamma;  // (parts * D) or null
  const float* beta;
  // adaLN modulation or null: row r uses mod + (r / rows_per_cond) * mod_stride
  const float* mod;
  int64_t mod_stride, rows_per_cond, shift_col, scale_col;
  T* y;                // (rows, parts * D)
};

template <typename T>
__global__ void __launch_bounds__(kThreads) norm_rows_kernel(NormArgs<T> p) {
  const int64_t r = blockIdx.x, D = p.D, width = p.b ? 2 * D : D;
  const T* ra = p.a + r * D;
  const T* rb = p.b ? p.b + r * D : nullptr;
  auto at = [&](int64_t i) { return to_float(i < D ? ra[i] : rb[i - D]); };
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < width; i += kThreads) s += at(i);
  const float mean = block_sum(s) / float(width);
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < width; i += kThreads) {
    const float d = at(i) - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(block_sum(sq) / float(width) + p.eps);
  T* ry = p.y + r * width;
  const float* cond = p.mod ? p.mod + (r / p.rows_per_cond) * p.mod_stride : nullptr;
  for (int64_t i = threadIdx.x; i < width; i += kThreads) {
    float v = (at(i) - mean) * rstd;
    if (p.gamma) v = v * p.gamma[i] + p.beta[i];
    if (cond) v = v * (1.0f + cond[p.scale_col + i]) + cond[p.shift_col + i];
    ry[i] = from_float<T>(v);  // each element is read only by this thread after the statistics: y may alias x
  }
}

template <typename T>
void run(const NormArgs<T>& p, int64_t rows, const char* op, cudaStream_t stream) {
  if (rows == 0) return;
  SKIPDIT_CHECK(rows <= 0x7fffffff, std::string(op) + ": too many rows");
  norm_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(p);
  check_launch(op, stream);
}

}  // namespace

template <typename T>
void layer_norm(const T* x, int64_t rows, int64_t D, float eps, const float* gamma, const float* beta, T* y,
                cudaStream_t stream) {
  run<T>({x, nullptr, D, eps, gamma, beta, nullptr, 0, 1, 0, 0, y}, rows, "layer_norm", stream);
}

template <typename T>
void layer_norm_concat(const T* a, const T* b, int64_t rows, int64_t D, float eps, const float* gamma,
                       const float* beta, T* y, cudaStream_t stream) {
  run<T>({a, b, D, eps, gamma, beta, nullptr, 0, 1, 0, 0, y}, rows, "layer_norm_concat", stream);
}

template <typename T>
void layer_norm_modulate(const T* x, int64_t G, int64_t N, int64_t D, float eps, const float* mod,
                         int64_t mod_stride, int64_t group_repeat, int64_t shift_col, int64_t scale_col, T* y,
                         cudaStream_t stream) {
  run<T>({x, nullptr, D, eps, nullptr, nullptr, mod, mod_stride, N * group_repeat, shift_col, scale_col, y}, G * N,
      "layer_norm_modulate", stream);
}

#define SKIPDIT_LAYER_NORM(T)                                                                                    \
  template void layer_norm<T>(const T*, int64_t, int64_t, float, const float*, const float*, T*, cudaStream_t);     \
  template void layer_norm_concat<T>(const T*, const T*, int64_t, int64_t, float, const float*, const float*, T*, \
                                     cudaStream_t);                                                                \
  template void layer_norm_modulate<T>(const T*, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, \
                                       int64_t, int64_t, T*, cudaStream_t);
SKIPDIT_FOR_ACT_TYPES(SKIPDIT_LAYER_NORM)
#undef SKIPDIT_LAYER_NORM


// in: x, gamma?, beta?; x and out of one element type
void kernel(const Context& ctx, const ops::LayerNorm& op, const KernelArgs& a) {
  const Tensor& x = a.in[0];
  const int64_t D = x.dim(-1);
  with_act_type(x, "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    layer_norm(ap<T>(x), x.numel() / D, D, op.eps, fp_or_null(a.in[1]), fp_or_null(a.in[2]), ap<T>(a.out), ctx.stream);
  });
}

// in: a, b, gamma, beta
void kernel(const Context& ctx, const ops::LayerNormConcat& op, const KernelArgs& a) {
  const int64_t D = a.in[0].dim(-1), rows = a.in[0].numel() / D;
  with_act_type(a.in[0], "layer_norm_concat", [&](auto tag) {
    using T = typename decltype(tag)::type;
    layer_norm_concat(ap<T>(a.in[0]), ap<T>(a.in[1]), rows, D, op.eps, fp(a.in[2]), fp(a.in[3]), ap<T>(a.out), ctx.stream);
  });
}

// in: x (G, N, D), mod
void kernel(const Context& ctx, const ops::LayerNormModulate& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &mod = a.in[1];
  const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
  with_act_type(x, "layer_norm_modulate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    layer_norm_modulate(ap<T>(x), G, N, D, op.eps, fp(mod), mod.dim(1), op.group_repeat, op.shift_chunk * D,
                        op.scale_chunk * D, ap<T>(a.out), ctx.stream);
  });
}
}  // namespace skipdit::cuda
