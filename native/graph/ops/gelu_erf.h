// BERT's exact GELU (hidden_act "gelu", torch.nn.functional.gelu): y = 0.5 x (1 + erf(x / sqrt(2))),
// elementwise, any shape. x and y: float32, or the activation type of the graph (CUDA).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct GeluErf : OpBase {
  static constexpr const char* kName = "gelu_erf";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const { return in[0].shape; }
};

}  // namespace skipdit::ops
