// The CUDA kernels of the op list (graph/op_list.h): one cuda::kernel overload per op, defined next to the op's
// launcher in cuda/ops/<op>.cu, and the helpers they share to read tensors. The graph checked the shapes when
// the node was added (op infer()); these check only what the CUDA code adds (device memory, element types).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/backend.h"
#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

struct Context {
  cudaStream_t stream = nullptr;
  Precision precision = Precision::F32;
};

#define SKIPDIT_CUDA_KERNEL(Op) void kernel(const Context& ctx, const ops::Op& op, const KernelArgs& a);
SKIPDIT_OP_LIST(SKIPDIT_CUDA_KERNEL)
#undef SKIPDIT_CUDA_KERNEL

inline float* fp(const Tensor& t) {
  SKIPDIT_CHECK(t.dtype() == DType::F32 && t.device() == Device::CUDA, "expected a float32 CUDA tensor, got " + t.describe());
  return static_cast<float*>(t.raw());
}
inline const float* fp_or_null(const Tensor& t) { return t.defined() ? fp(t) : nullptr; }
inline bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()) % 16 == 0; }

// Activation element types: float, __nv_bfloat16, __half.
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<__nv_bfloat16>() { return DType::BF16; }
template <> constexpr DType dtype_of<__half>() { return DType::F16; }
template <typename T> struct Tag { using type = T; };

// Calls f(Tag<T>{}) with T the element type of an activation tensor.
template <class F>
void with_act_type(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::F32: f(Tag<float>{}); break;
    case DType::BF16: f(Tag<__nv_bfloat16>{}); break;
    case DType::F16: f(Tag<__half>{}); break;
    default: fail(ErrorKind::Internal, std::string(op) + ": unsupported activation " + t.describe());
  }
}

// The typed device pointer of a tensor that must hold T.
template <typename T>
T* ap(const Tensor& t) {
  SKIPDIT_CHECK(t.dtype() == dtype_of<T>() && t.device() == Device::CUDA,
                std::string("expected a ") + dtype_name(dtype_of<T>()) + " CUDA tensor, got " + t.describe());
  return static_cast<T*>(t.raw());
}

}  // namespace skipdit::cuda
