#include "cuda/ops/gemm.cuh"

namespace skipdit::cuda {

namespace {
template <class ALoader>
void dispatch(const ALoader& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue& ep,
              cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  if (w.type == WeightType::F32) gemm_simt(a, M, K, static_cast<const float*>(w.data), w.ld, N, ep, stream);
  else gemm_mma(a, M, K, w, N, ep, stream);
}
}  // namespace

void gemm(const DenseA& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue& ep,
          cudaStream_t stream) {
  dispatch(a, M, K, w, N, ep, stream);
}

void gemm(const Im2colA& a, int64_t M, int64_t K, const GemmWeight& w, int64_t N, const GemmEpilogue& ep,
          cudaStream_t stream) {
  dispatch(a, M, K, w, N, ep, stream);
}

}  // namespace skipdit::cuda
