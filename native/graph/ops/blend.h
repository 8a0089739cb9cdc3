// The learned mix of the SVD VAE decoder's SpatioTemporalResBlock (diffusers AlphaBlender, merge_strategy
// "learned"): y = wa * a + wb * b elementwise, float32, each product rounded, then the sum (no fused multiply-add),
// as torch computes `w * x_spatial + (1.0 - w) * x_temporal` with w = 1 - sigmoid(mix_factor). The weights are
// fields: the decoder computes them once from the loaded mix factor (vae/vae_decoder.cpp).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct Blend : OpBase {
  static constexpr const char* kName = "blend";
  static constexpr std::array<const char*, 2> kInputs{"a", "b"};
  float wa = 0.5f, wb = 0.5f;
  template <class F> void fields(F&& f) {
    f("wa", wa);
    f("wb", wb);
  }
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].dtype == DType::F32 && in[1].shape == in[0].shape && in[1].dtype == in[0].dtype,
                      "b " + in[1].describe() + " for a " + in[0].describe());
    return in[0].shape;
  }
};

}  // namespace skipdit::ops
