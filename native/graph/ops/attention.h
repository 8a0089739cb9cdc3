// Multi-head self-attention from a fused projection: out (G, N, D) = softmax(q k^T / sqrt(hd)) v per head, with
// qkv (G, N, 3D) laid out [q | k | v] per token, each split into `heads` heads of hd = D / heads.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct Attention : OpBase {
  static constexpr const char* kName = "attention";
  static constexpr std::array<const char*, 1> kInputs{"qkv"};
  int64_t heads = 1;
  template <class F> void fields(F&& f) { f("heads", heads); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& qkv = in[0];
    SKIPDIT_OP_EXPECT(qkv.ndim() == 3 && heads > 0 && qkv.dim(2) % (3 * heads) == 0, "qkv " + qkv.describe());
    return {qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3};
  }
  double flops(const OpInputs& in, const Shape& out) const {  // q k^T and p v
    return 4.0 * out[0] * out[1] * out[1] * out[2];
  }
};

}  // namespace skipdit::ops
