#include "cuda/ops/gemm.cuh"

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

}  // namespace skipdit::cuda
