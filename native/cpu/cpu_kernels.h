// The CPU kernels of the op list (graph/op_list.h): one cpu::kernel overload per op, defined next to the op's
// plain kernel in cpu/ops/<op>.cpp. The graph checked the shapes when the node was added (op infer()).
#pragma once
#include "backend/backend.h"

namespace skipdit::cpu {

// What the kernels know of the backend they run in.
struct Context {
  Precision precision = Precision::F32;
  // GEMM operands are stored as bf16 (CpuBackend::operand_dtype): bfloat16 weights on AVX-512 BF16.
  bool bf16_operands = false;
};

#define SKIPDIT_CPU_KERNEL(Op) void kernel(const Context& ctx, const ops::Op& op, const KernelArgs& a);
SKIPDIT_OP_LIST(SKIPDIT_CPU_KERNEL)
#undef SKIPDIT_CPU_KERNEL

inline float* f32_or_null(const Tensor& t) { return t.defined() && t.dtype() == DType::F32 ? t.f32() : nullptr; }
inline uint16_t* bf16_or_null(const Tensor& t) {
  if (!t.defined() || t.dtype() == DType::F32) return nullptr;
  SKIPDIT_CHECK(t.dtype() == DType::BF16, "a float32 or bf16 tensor expected, got " + t.describe());
  return static_cast<uint16_t*>(t.raw());
}

}  // namespace skipdit::cpu
