// T5 v1.1 / mT5's gated feed-forward activation: y = gelu_new(a) * b elementwise, a and b of one shape, with
// gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (transformers' NewGELUActivation).
// a, b and y: float32, or the activation type of the graph (CUDA; computed in float32, rounded once).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct GatedGelu : OpBase {
  static constexpr const char* kName = "gated_gelu";
  static constexpr std::array<const char*, 2> kInputs{"a", "b"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[1].shape == in[0].shape && in[1].dtype == in[0].dtype,
                      "b " + in[1].describe() + " for a " + in[0].describe());
    return in[0].shape;
  }
};

}  // namespace skipdit::ops
