#include "cuda/ops/gemm.cuh"
#include "cuda/cuda_kernels.cuh"
#include "cuda/ops/embeddings.cuh"
#include "cuda/ops/convert.cuh"

namespace skipdit::cuda {

template <class ALoader, typename Y>
void gemm(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue<Y>& ep,
          cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  if (w.type == WeightType::F32) gemm_simt(a, M, K, static_cast<const float*>(w.data), w.ld, N, ep, stream);
  else gemm_mma(a, M, K, w, N, ep, stream);
}

#define SKIPDIT_GEMM(A, Y)                                                                                  \
  template void gemm<A, Y>(const A&, int64_t, int64_t, const GemmWeight&, int64_t, const GemmEpilogue<Y>&, \
                           cudaStream_t);
SKIPDIT_GEMM(DenseA<float>, float)
SKIPDIT_GEMM(Im2colA, float)
SKIPDIT_GEMM(DenseA<float>, __nv_bfloat16)
SKIPDIT_GEMM(DenseA<float>, __half)
SKIPDIT_GEMM(DenseA<__nv_bfloat16>, __nv_bfloat16)
SKIPDIT_GEMM(DenseA<__half>, __half)
#undef SKIPDIT_GEMM


namespace {

WeightType weight_type(DType t) {
  switch (t) {
    case DType::F32: return WeightType::F32;
    case DType::BF16: return WeightType::BF16;
    case DType::F16: return WeightType::F16;
    default: fail(ErrorKind::Internal, "linear: weights must be float32, bfloat16 or float16");
  }
}

// A weight as prepare_linear left it: float32 (N, K), or bf16/fp16 (N, K padded to 8).
GemmWeight weight_of(const Tensor& w, int64_t N, int64_t K, const char* op) {
  const bool f32 = w.dtype() == DType::F32;
  SKIPDIT_CHECK(w.ndim() == 2 && w.device() == Device::CUDA && w.dim(0) == N && w.dim(1) == (f32 ? K : padded_ld(K)),
                std::string(op) + ": weight " + w.describe());
  return GemmWeight{w.raw(), weight_type(w.dtype()), w.dim(1)};
}

// y = epilogue(x @ w^T + bias), x of element type T (the output's: bf16 / fp16 A needs weights of that type).
template <typename T>
void run_linear(const Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, GemmEpilogue<T> ep,
                const char* op) {
  const int64_t K = x.dim(-1), M = x.numel() / K, N = w.dim(0);
  ep.bias = fp_or_null(bias);
  gemm(DenseA<T>{ap<T>(x), K, aligned16(x) && K % 4 == 0}, M, K, weight_of(w, N, K, op), N, ep, ctx.stream);
}

}  // namespace

// in: x, w, bias?; x and out float32, or both of the activation type
void kernel(const Context& ctx, const ops::Linear& op, const KernelArgs& a) {
  with_act_type(a.in[0], "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    GemmEpilogue<T> ep;
    ep.gelu = op.act == Activation::GeluTanh;
    ep.y = ap<T>(a.out);
    run_linear<T>(ctx, a.in[0], a.in[1], a.in[2], ep, "linear");
  });
}

// in: x, w, bias?, mod, h (= out)
void kernel(const Context& ctx, const ops::LinearGateResidual& op, const KernelArgs& a) {
  const Tensor &mod = a.in[3], &h = a.out;
  const int64_t N = h.dim(1), D = h.dim(2);
  with_act_type(a.in[0], "linear_gate_residual", [&](auto tag) {
    using T = typename decltype(tag)::type;
    GemmEpilogue<T> ep;
    ep.y = ap<T>(h);
    ep.gate = fp(mod) + op.gate_chunk * D;
    ep.gate_stride = mod.dim(1);
    ep.rows_per_gate = N * op.group_repeat;
    run_linear<T>(ctx, a.in[0], a.in[1], a.in[2], ep, "linear_gate_residual");
  });
}

// in: x (B, Cin, H, W) float32, w (Cout, Cin*k*k) prepared, bias (Cout): an implicit-im2col GEMM
void kernel(const Context& ctx, const ops::Conv2d& op, const KernelArgs& a) {
  const Tensor &x = a.in[0], &y = a.out;
  const int64_t B = x.dim(0), Cin = x.dim(1), H = x.dim(2), W = x.dim(3), Cout = y.dim(1), K = Cin * op.k * op.k;
  GemmEpilogue<float> ep;
  ep.bias = fp(a.in[2]);
  ep.y = fp(y);
  ep.hw = H * W;  // the GEMM's (pixel, cout) result is stored channels-first
  const Im2colA im{fp(x), int(Cin), int(H), int(W), int(op.k), int((op.k - 1) / 2)};
  gemm(im, B * H * W, K, weight_of(a.in[1], Cout, K, "conv2d"), Cout, ep, ctx.stream);
}

// in: x (B, C, H, W) float32, w (D, C, p, p) float32, bias (D); scratch: the patch columns (B*T, C*p*p)
void kernel(const Context& ctx, const ops::PatchEmbed&, const KernelArgs& a) {
  const Tensor &x = a.in[0], &w = a.in[1], &tokens = a.out;
  const int64_t B = x.dim(0), C = x.dim(1), p = w.dim(2), D = w.dim(0), T = tokens.dim(1), F = C * p * p;
  im2col_patches(fp(x), B, C, x.dim(2), x.dim(3), p, fp(a.scratch), ctx.stream);
  // The conv weight stays float32 (it is not a prepare_linear weight): a small K = C*p*p float32 GEMM whose
  // output is rounded once to the tokens' activation type.
  with_act_type(tokens, "patch_embed", [&](auto tag) {
    using Act = typename decltype(tag)::type;
    GemmEpilogue<Act> ep;
    ep.bias = fp(a.in[2]);
    ep.y = ap<Act>(tokens);
    gemm(DenseA<float>{fp(a.scratch), F, aligned16(a.scratch) && F % 4 == 0}, B * T, F, GemmWeight{fp(w), WeightType::F32, F},
         D, ep, ctx.stream);
  });
}
}  // namespace skipdit::cuda
