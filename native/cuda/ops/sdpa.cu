// Scaled dot-product attention with separate q, k, v, an optional broadcast additive bias and an optional key
// mask (CPU twin: cpu/ops/sdpa.cpp). A float32 SIMT flash kernel in the layout of attention.cu's: a block of
// 8 warps takes 8 consecutive queries of one (sequence, head); per tile of 32 keys the block stages K and V
// in shared memory (widened to float32, rows padded to an odd pitch), lane j scores key j against the warp's
// query, adds its scale, bias and mask term, the warp updates its running max / denominator (online softmax),
// and each lane accumulates its DPL output columns (lane + 32 c) with the probabilities broadcast by shuffle.
// T (q, k, v, out): float, or a low-precision model's bf16 / fp16 activations; bias and mask float32.
// Masked keys get (1 - m) * finfo(float32).min added, never -inf: a fully masked row has every score at
// finfo.min, hence uniform weights (the mean of v), finite as in PyTorch.
#include "cuda/cuda_kernels.cuh"

#include <cmath>
#include <string>

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kWarps = 8, kKeys = 32;
constexpr int64_t kMaxHeadDim = 256;
constexpr float kFinfoMin = -3.4028234663852886e38f;  // torch.finfo(torch.float32).min

struct SdpaParams {
  int64_t G, Lq, Lk;
  int H, hd;
  float scale;
  const float* bias;               // or null; element (g, h, i, j) at g * bias_g + h * bias_h + i * bias_q + j
  int64_t bias_g, bias_h, bias_q;  // strides, 0 on broadcast axes
  const float* key_mask;           // (G, Lk) or null
};

template <int DPL, typename T>
__global__ void __launch_bounds__(kWarps * 32, 1) sdpa_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                           const T* __restrict__ v, SdpaParams p, T* __restrict__ out) {
  extern __shared__ float smem[];
  const int hd = p.hd, pitch = hd | 1;  // odd: lane j reading key row j hits its own bank
  float* ks = smem;                     // [kKeys][pitch]
  float* vs = ks + kKeys * pitch;       // [kKeys][pitch]
  float* qs = vs + kKeys * pitch;       // [kWarps][hd]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t D = int64_t(p.H) * hd, Lq = p.Lq, Lk = p.Lk;
  const int64_t qblocks = (Lq + kWarps - 1) / kWarps;
  const int64_t g = blockIdx.x / (int64_t(p.H) * qblocks), h = (blockIdx.x / qblocks) % p.H, qb = blockIdx.x % qblocks;
  const int64_t i = qb * kWarps + warp;  // this warp's query
  const bool active = i < Lq;
  const int64_t iq = active ? i : 0;     // inactive warps read a valid row and store nothing
  float* qw = qs + warp * hd;
  const T* qrow = q + (g * Lq + iq) * D + h * hd;
  for (int d = lane; d < hd; d += 32) qw[d] = to_float(qrow[d]);
  const T* kh = k + g * Lk * D + h * hd;
  const T* vh = v + g * Lk * D + h * hd;
  const float* brow = p.bias ? p.bias + g * p.bias_g + h * p.bias_h + iq * p.bias_q : nullptr;
  const float* mrow = p.key_mask ? p.key_mask + g * Lk : nullptr;

  float o[DPL];
#pragma unroll
  for (int c = 0; c < DPL; ++c) o[c] = 0.0f;
  float running_max = -INFINITY, denom = 0.0f;

  for (int64_t j0 = 0; j0 < Lk; j0 += kKeys) {
    const int nj = Lk - j0 < kKeys ? int(Lk - j0) : kKeys;
    __syncthreads();  // the previous tile is no longer read (and, on the first one, qs is written)
    for (int e = threadIdx.x; e < nj * hd; e += kWarps * 32) {
      const int j = e / hd, d = e - j * hd;
      ks[j * pitch + d] = to_float(kh[(j0 + j) * D + d]);
      vs[j * pitch + d] = to_float(vh[(j0 + j) * D + d]);
    }
    __syncthreads();
    float s = -INFINITY;
    if (lane < nj) {
      const float* kr = ks + lane * pitch;
      float dot = 0.0f;
      for (int d = 0; d < hd; ++d) dot = fmaf(qw[d], kr[d], dot);
      s = dot * p.scale;
      const int64_t j = j0 + lane;
      if (brow && mrow) s += brow[j] + (1.0f - mrow[j]) * kFinfoMin;
      else if (brow) s += brow[j];
      else if (mrow) s += (1.0f - mrow[j]) * kFinfoMin;
    }
    const float new_max = fmaxf(running_max, warp_max(s));  // finite: the tile has at least one key
    const float pj = lane < nj ? expf(s - new_max) : 0.0f;
    const float correction = expf(running_max - new_max);  // 0 on the first tile
    denom = denom * correction + warp_sum(pj);
    running_max = new_max;
#pragma unroll
    for (int c = 0; c < DPL; ++c) o[c] *= correction;
    for (int j = 0; j < nj; ++j) {
      const float w = __shfl_sync(0xffffffffu, pj, j);
      const float* vr = vs + j * pitch;
#pragma unroll
      for (int c = 0; c < DPL; ++c) {
        const int d = lane + 32 * c;
        if (d < hd) o[c] = fmaf(w, vr[d], o[c]);
      }
    }
  }
  if (!active) return;
  const float inv = 1.0f / denom;
  T* orow = out + (g * Lq + i) * D + h * hd;
#pragma unroll
  for (int c = 0; c < DPL; ++c) {
    const int d = lane + 32 * c;
    if (d < hd) orow[d] = from_float<T>(o[c] * inv);
  }
}

template <int DPL, typename T>
void launch(const T* q, const T* k, const T* v, const SdpaParams& p, T* out, cudaStream_t stream) {
  const int pitch = p.hd | 1;
  const size_t smem = (2 * kKeys * pitch + kWarps * p.hd) * sizeof(float);
  // Once per instantiation: allow the largest tile of this DPL (DPL 8 needs 74 KB, over the 48 KB default).
  static const bool raised = [] {
    CUDA_CHECK(cudaFuncSetAttribute(sdpa_kernel<DPL, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int((2 * kKeys * (32 * DPL + 1) + kWarps * 32 * DPL) * sizeof(float))));
    return true;
  }();
  (void)raised;
  const int64_t blocks = p.G * p.H * ((p.Lq + kWarps - 1) / kWarps);
  SKIPDIT_CHECK(blocks <= 0x7fffffff, "sdpa: too many blocks");
  sdpa_kernel<DPL, T><<<static_cast<unsigned>(blocks), kWarps * 32, smem, stream>>>(q, k, v, p, out);
  check_launch("sdpa", stream);
}

template <typename T>
void sdpa(const T* q, const T* k, const T* v, const SdpaParams& p, T* out, cudaStream_t stream) {
  if (p.G * p.Lq * p.H == 0) return;
  if (p.hd <= 64) launch<2>(q, k, v, p, out, stream);
  else if (p.hd <= 96) launch<3>(q, k, v, p, out, stream);
  else if (p.hd <= 128) launch<4>(q, k, v, p, out, stream);
  else if (p.hd <= kMaxHeadDim) launch<8>(q, k, v, p, out, stream);
  else fail(ErrorKind::BackendUnavailable, "sdpa: head dim " + std::to_string(p.hd) + " > " +
                                               std::to_string(kMaxHeadDim) + " is not supported on CUDA");
}

}  // namespace

// in: q (G, Lq, H*hd), k, v (G, Lk, H*hd) of the activation type; bias? (Gb, Hb, Lqb, Lk), key_mask? (G, Lk)
// float32; out like q
void kernel(const Context& ctx, const ops::Sdpa& op, const KernelArgs& a) {
  const Tensor &q = a.in[0], &k = a.in[1], &v = a.in[2], &bias = a.in[3];
  SdpaParams p{};
  p.G = q.dim(0);
  p.Lq = q.dim(1);
  p.Lk = k.dim(1);
  SKIPDIT_CHECK(q.dim(2) / op.heads <= 0x7fffffff && op.heads <= 0x7fffffff, "sdpa: head size");
  p.H = static_cast<int>(op.heads);
  p.hd = static_cast<int>(q.dim(2) / op.heads);
  p.scale = op.scale != 0.0f ? op.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.hd)));
  if (bias.defined()) {
    p.bias = fp(bias);
    p.bias_q = bias.dim(2) == 1 ? 0 : p.Lk;
    p.bias_h = bias.dim(1) == 1 ? 0 : bias.dim(2) * p.Lk;
    p.bias_g = bias.dim(0) == 1 ? 0 : bias.dim(1) * bias.dim(2) * p.Lk;
  }
  p.key_mask = fp_or_null(a.in[4]);
  with_act_type(q, "sdpa", [&](auto tag) {
    using T = typename decltype(tag)::type;
    sdpa(ap<T>(q), ap<T>(k), ap<T>(v), p, ap<T>(a.out), ctx.stream);
  });
}

}  // namespace skipdit::cuda
