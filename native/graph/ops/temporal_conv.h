// The temporal convolution of the SVD VAE decoder (diffusers Conv3d with kernel (kt, 1, 1), padding (kt/2, 0, 0))
// on the per-frame layout: x (N, Cin, H, W) holds N / frames videos of `frames` consecutive rows (row b*F + f),
// and each output frame mixes frames f - kt/2 .. f + kt/2 of its own video, zero beyond the video's ends:
//   y[b*F+f, o, p] = bias[o] + sum_i sum_k w[o, i, k] * x[b*F + f + k - kt/2, i, p]
// w (Cout, Cin, kt, 1, 1) float32 as stored by torch (kt odd), bias (Cout). Float32 throughout.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct TemporalConv : OpBase {
  static constexpr const char* kName = "temporal_conv";
  static constexpr std::array<const char*, 3> kInputs{"x", "w", "bias"};
  int64_t frames = 1;
  template <class F> void fields(F&& f) { f("frames", frames); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &w = in[1];
    SKIPDIT_OP_EXPECT(x.ndim() == 4 && x.dtype == DType::F32 && frames > 0 && x.dim(0) % frames == 0,
                      "x " + x.describe() + " for frames " + std::to_string(frames));
    SKIPDIT_OP_EXPECT(w.ndim() == 5 && w.dtype == DType::F32 && w.dim(1) == x.dim(1) && w.dim(2) % 2 == 1 && w.dim(3) == 1 &&
                          w.dim(4) == 1 && in[2].shape == Shape{w.dim(0)},
                      "w " + w.describe());
    return {x.dim(0), w.dim(0), x.dim(2), x.dim(3)};
  }
  double flops(const OpInputs& in, const Shape& out) const { return 2.0 * shape_numel(out) * in[1].dim(1) * in[1].dim(2); }
};

}  // namespace skipdit::ops
