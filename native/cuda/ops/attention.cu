// float32 SIMT flash attention (bf16 / fp16 activations with head dims the tensor-core kernel of
// attention_mma.cu takes go there instead; see attention()). A block of 8 warps takes 8 consecutive queries of one (sequence, head);
// per tile of 32 keys the block stages K and V in shared memory (rows padded to an odd pitch, so lane j
// reading key row j hits its own bank), lane j scores key j against the query (held in shared memory),
// the warp updates its running max / denominator, and each lane accumulates its DPL columns of the output
// (column lane + 32 i) with the probabilities broadcast by shuffle. DPL = ceil(hd / 32) is a template
// parameter: 2 (hd <= 64), 3 (<= 96: DiT-XL / Latte-XL hd 72), 4 (<= 128), 16 (<= 512: the VAE).
// T is the element type of qkv and out (float, or a low-precision model's bf16 / fp16 activations): the
// tiles are widened to float32 as they are staged, so scores, softmax and accumulation are float32.
#include "cuda/ops/attention.cuh"
#include "cuda/cuda_kernels.cuh"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {

constexpr int kWarps = 8, kKeys = 32;

template <int DPL, typename T>
__global__ void __launch_bounds__(kWarps * 32, 1) attention_kernel(const T* __restrict__ qkv, int64_t N, int H, int hd,
                                                                 float scale, T* __restrict__ out) {
  extern __shared__ float smem[];
  const int pitch = hd | 1;  // odd
  float* ks = smem;                         // [kKeys][pitch]
  float* vs = ks + kKeys * pitch;           // [kKeys][pitch]
  float* qs = vs + kKeys * pitch;           // [kWarps][hd]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t D = int64_t(H) * hd, row = 3 * D;
  const int64_t qblocks = (N + kWarps - 1) / kWarps;
  const int64_t g = blockIdx.x / (int64_t(H) * qblocks), h = (blockIdx.x / qblocks) % H, qb = blockIdx.x % qblocks;
  const int64_t i = qb * kWarps + warp;  // this warp's query
  const bool active = i < N;
  const T* base = qkv + g * N * row + h * hd;
  float* q = qs + warp * hd;
  for (int d = lane; d < hd; d += 32) q[d] = active ? to_float(base[i * row + d]) * scale : 0.0f;

  float o[DPL];
#pragma unroll
  for (int c = 0; c < DPL; ++c) o[c] = 0.0f;
  float running_max = -INFINITY, denom = 0.0f;

  for (int64_t j0 = 0; j0 < N; j0 += kKeys) {
    const int nj = N - j0 < kKeys ? int(N - j0) : kKeys;
    __syncthreads();  // the previous tile is no longer read
    for (int e = threadIdx.x; e < nj * hd; e += kWarps * 32) {
      const int j = e / hd, d = e - j * hd;
      const T* kv = base + (j0 + j) * row + d;
      ks[j * pitch + d] = to_float(kv[D]);
      vs[j * pitch + d] = to_float(kv[2 * D]);
    }
    __syncthreads();
    float s = -INFINITY;
    if (lane < nj) {
      s = 0.0f;
      const float* kr = ks + lane * pitch;
      for (int d = 0; d < hd; ++d) s = fmaf(q[d], kr[d], s);
    }
    const float new_max = fmaxf(running_max, warp_max(s));  // finite: the tile has at least one key
    const float p = lane < nj ? expf(s - new_max) : 0.0f;
    const float correction = expf(running_max - new_max);  // 0 on the first tile
    denom = denom * correction + warp_sum(p);
    running_max = new_max;
#pragma unroll
    for (int c = 0; c < DPL; ++c) o[c] *= correction;
    for (int j = 0; j < nj; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const float* vr = vs + j * pitch;
#pragma unroll
      for (int c = 0; c < DPL; ++c) {
        const int d = lane + 32 * c;
        if (d < hd) o[c] = fmaf(pj, vr[d], o[c]);
      }
    }
  }
  if (!active) return;
  const float inv = 1.0f / denom;
  T* orow = out + (g * N + i) * D + h * hd;
#pragma unroll
  for (int c = 0; c < DPL; ++c) {
    const int d = lane + 32 * c;
    if (d < hd) orow[d] = from_float<T>(o[c] * inv);
  }
}

template <int DPL, typename T>
void launch(const T* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, T* out, cudaStream_t stream) {
  const int pitch = int(hd | 1);
  const size_t smem = (2 * kKeys * pitch + kWarps * hd) * sizeof(float);
  // Once per instantiation: allow the largest tile of this DPL (over 48 KB needs the opt-in; DPL 16 takes
  // 144 KB, which sm_80 / sm_90 have and consumer sm_86 / sm_89 parts do not: a clear error there).
  static const bool raised = [] {
    CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<DPL, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int((2 * kKeys * (32 * DPL + 1) + kWarps * 32 * DPL) * sizeof(float))));
    return true;
  }();
  (void)raised;
  const int64_t blocks = G * H * ((N + kWarps - 1) / kWarps);
  SKIPDIT_CHECK(blocks <= 0x7fffffff, "attention: too many blocks");
  attention_kernel<DPL, T><<<static_cast<unsigned>(blocks), kWarps * 32, smem, stream>>>(
      qkv, N, int(H), int(hd), static_cast<float>(1.0 / std::sqrt(double(hd))), out);
  check_launch("attention", stream);
}

}  // namespace

// SKIPDIT_CUDA_ATTENTION=simt keeps bf16 / fp16 on the SIMT kernel (read at every call, so a benchmark or a
// test can compare both in one process).
bool tensor_core_attention() {
  const char* v = std::getenv("SKIPDIT_CUDA_ATTENTION");
  return !(v && std::strcmp(v, "simt") == 0);
}

template <typename T>
void attention(const T* qkv, int64_t G, int64_t N, int64_t H, int64_t hd, T* out, cudaStream_t stream) {
  if (G * N * H == 0) return;
  if constexpr (!std::is_same_v<T, float>) {
    if (attention_mma_supported(hd, qkv, out) && tensor_core_attention()) return attention_mma(qkv, G, N, H, hd, out, stream);
  }
  if (hd <= 64) launch<2>(qkv, G, N, H, hd, out, stream);
  else if (hd <= 96) launch<3>(qkv, G, N, H, hd, out, stream);
  else if (hd <= 128) launch<4>(qkv, G, N, H, hd, out, stream);
  else if (hd <= kMaxAttentionHeadDim) launch<16>(qkv, G, N, H, hd, out, stream);
  else fail(ErrorKind::BackendUnavailable, "attention: head dim " + std::to_string(hd) + " > " +
                                               std::to_string(kMaxAttentionHeadDim) + " is not supported on CUDA");
}

#define SKIPDIT_ATTENTION(T) template void attention<T>(const T*, int64_t, int64_t, int64_t, int64_t, T*, cudaStream_t);
SKIPDIT_FOR_ACT_TYPES(SKIPDIT_ATTENTION)
#undef SKIPDIT_ATTENTION


// in: qkv (G, N, 3D) of the activation type
void kernel(const Context& ctx, const ops::Attention& op, const KernelArgs& a) {
  const Tensor& qkv = a.in[0];
  const int64_t D = qkv.dim(2) / 3;
  with_act_type(qkv, "attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    attention(ap<T>(qkv), qkv.dim(0), qkv.dim(1), op.heads, D / op.heads, ap<T>(a.out), ctx.stream);
  });
}
}  // namespace skipdit::cuda
