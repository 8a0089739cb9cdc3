// RMS norm over the last dimension (T5LayerNorm): x (..., D) -> y (..., D) = x * rsqrt(mean(x^2) + eps)
// [* weight (D)], no mean subtraction, no bias. The mean of squares in float32 (accumulated in double on CPU),
// then x times the reciprocal square root, then times the weight, as transformers does.
// x and y: float32, or the activation type of the graph (CUDA); weight float32.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct RmsNorm : OpBase {
  static constexpr const char* kName = "rms_norm";
  static constexpr std::array<const char*, 2> kInputs{"x", "weight?"};
  float eps = 1e-6f;
  template <class F> void fields(F&& f) { f("eps", eps); }
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].ndim() >= 1 && in[0].dim(-1) >= 1, "x " + in[0].describe());
    SKIPDIT_OP_EXPECT(!in.has(1) || (in[1].dtype == DType::F32 && in[1].shape == Shape{in[0].dim(-1)}),
                      "weight " + in[1].describe() + " for x " + in[0].describe());
    return in[0].shape;
  }
};

}  // namespace skipdit::ops
