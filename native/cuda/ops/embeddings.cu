#include "cuda/ops/embeddings.cuh"
#include "cuda/cuda_kernels.cuh"

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

__global__ void im2col_patches_kernel(const float* x, int64_t total, int64_t C, int64_t Hs, int64_t Ws, int64_t p,
                                      float* cols) {
  const int64_t gw = Ws / p, T = (Hs / p) * gw, F = C * p * p;
  CUDA_FOR(i, total) {  // i = (b, token, feature)
    const int64_t bt = i / F, f = i - bt * F, b = bt / T, n = bt - b * T, r = n / gw, c = n - r * gw;
    const int64_t ch = f / (p * p), pi = (f / p) % p, pj = f % p;
    cols[i] = x[((b * C + ch) * Hs + r * p + pi) * Ws + c * p + pj];
  }
}

// SLEEF expf_u10 as PyTorch's CPU kernels use it (the twin in cpu/ops/sincos_embed.cpp explains why).
__device__ float torch_expf(float d) {
  const float R_LN2f = 1.442695040888963407359924681001892137426645954152985934135449406931f;
  const float L2Uf = 0.693145751953125f, L2Lf = 1.428606765330187045e-06f;
  const float qf = rintf(d * R_LN2f);
  float s = fmaf(qf, -L2Uf, d);
  s = fmaf(qf, -L2Lf, s);
  float u = 0.000198527617612853646278381f;
  u = fmaf(u, s, 0.00139304355252534151077271f);
  u = fmaf(u, s, 0.00833336077630519866943359f);
  u = fmaf(u, s, 0.0416664853692054748535156f);
  u = fmaf(u, s, 0.166666671633720397949219f);
  u = fmaf(u, s, 0.5f);
  u = 1.0f + fmaf(s * s, u, s);
  u = ldexpf(u, static_cast<int>(qf));
  if (d < -104.0f) u = 0.0f;
  if (d > 104.0f) u = INFINITY;
  return u;
}

__global__ void timestep_frequencies_kernel(const float* t, int64_t B, int64_t dim, float neg_log_period, float* out) {
  const int64_t half = dim / 2;
  CUDA_FOR(e, B * dim) {
    const int64_t b = e / dim, c = e - b * dim;
    if (c >= 2 * half) {
      out[e] = 0.0f;
      continue;
    }
    const int64_t i = c < half ? c : c - half;
    // __fmul_rn / __fdiv_rn: rounded separately, as the CPU twin's float32 expression (no FMA contraction)
    const float freq = torch_expf(__fdiv_rn(__fmul_rn(neg_log_period, static_cast<float>(i)), static_cast<float>(half)));
    const float arg = __fmul_rn(t[b], freq);
    out[e] = c < half ? cosf(arg) : sinf(arg);
  }
}

__global__ void embedding_kernel(const float* table, int64_t D, const int64_t* labels, int64_t total, float* out) {
  CUDA_FOR(e, total) {
    const int64_t b = e / D, d = e - b * D;
    out[e] = table[labels[b] * D + d];
  }
}

}  // namespace

void im2col_patches(const float* x, int64_t B, int64_t C, int64_t Hs, int64_t Ws, int64_t p, float* cols,
                    cudaStream_t stream) {
  const int64_t total = B * C * Hs * Ws;  // one element of cols per input element
  if (total == 0) return;
  im2col_patches_kernel<<<grid_for(total, 256), 256, 0, stream>>>(x, total, C, Hs, Ws, p, cols);
  check_launch("patch_embed (im2col)", stream);
}

void timestep_frequencies(const float* t, int64_t B, int64_t dim, float* out, cudaStream_t stream) {
  if (B * dim == 0) return;
  timestep_frequencies_kernel<<<grid_for(B * dim, 256), 256, 0, stream>>>(
      t, B, dim, static_cast<float>(-9.210340371976184 /* -ln(10000) */), out);
  check_launch("timestep_frequencies", stream);
}

void embedding_lookup(const float* table, int64_t D, const int64_t* labels, int64_t B, float* out, cudaStream_t stream) {
  if (B * D == 0) return;
  embedding_kernel<<<grid_for(B * D, 256), 256, 0, stream>>>(table, D, labels, B * D, out);
  check_launch("embedding", stream);
}


void kernel(const Context& ctx, const ops::TimestepFrequencies& op, const KernelArgs& a) {
  timestep_frequencies(fp(a.in[0]), a.in[0].numel(), op.dim, fp(a.out), ctx.stream);
}

// in: table (R, D) float32, ids int64 on the device (staged by the backend; their range is checked on the host
// where they come from)
void kernel(const Context& ctx, const ops::Embedding&, const KernelArgs& a) {
  const Tensor &table = a.in[0], &ids = a.in[1];
  SKIPDIT_CHECK(ids.device() == Device::CUDA && ids.dtype() == DType::I64, "embedding ids " + ids.describe());
  embedding_lookup(fp(table), table.dim(1), static_cast<const int64_t*>(ids.raw()), ids.numel(), fp(a.out), ctx.stream);
}
}  // namespace skipdit::cuda
