// The VAE decoder's convolution and upsampling (float32, NCHW).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

// y (B, Cout, H, W) = conv(x (B, Cin, H, W)) + bias (Cout): odd k x k kernel, stride 1, same zero padding; w is the
// prepare_linear weight of logical shape (Cout, Cin*k*k).
struct Conv2d : OpBase {
  static constexpr const char* kName = "conv2d";
  static constexpr std::array<const char*, 3> kInputs{"x", "w", "bias"};
  int64_t k = 3;
  template <class F> void fields(F&& f) { f("k", k); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &w = in[1];
    SKIPDIT_OP_EXPECT(x.ndim() == 4 && x.dtype == DType::F32 && k > 0 && k % 2 == 1, "x " + x.describe());
    SKIPDIT_OP_EXPECT(w.ndim() == 2 && w.dim(1) == x.dim(1) * k * k && in[2].shape == Shape{w.dim(0)}, "w " + w.describe());
    return {x.dim(0), w.dim(0), x.dim(2), x.dim(3)};
  }
  double flops(const OpInputs& in, const Shape& out) const { return 2.0 * shape_numel(out) * in[1].dim(1); }
};

// y (B, C, 2H, 2W) = nearest 2x upsampling of x (B, C, H, W).
struct UpsampleNearest2x : OpBase {
  static constexpr const char* kName = "upsample_nearest2x";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc& x = in[0];
    SKIPDIT_OP_EXPECT(x.ndim() == 4 && x.dtype == DType::F32, "x " + x.describe());
    return {x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)};
  }
};

}  // namespace skipdit::ops
