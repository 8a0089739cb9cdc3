// LayerNorm variants over the last dimension: y = (x - mean) / sqrt(var + eps) [* gamma + beta]. Statistics in
// double on CPU, float32 on CUDA; the result is rounded once.
#pragma once
#include "graph/ops/linear.h"

namespace skipdit::ops {

// y (..., D) = LayerNorm(x) with affine gamma/beta (D) when given.
struct LayerNorm : OpBase {
  static constexpr const char* kName = "layer_norm";
  static constexpr std::array<const char*, 3> kInputs{"x", "gamma?", "beta?"};
  float eps = 1e-6f;
  template <class F> void fields(F&& f) { f("eps", eps); }
  Shape infer(const OpInputs& in) const {
    const int64_t D = in[0].dim(-1);
    SKIPDIT_OP_EXPECT(in.has(1) == in.has(2), "gamma and beta: both or neither");
    SKIPDIT_OP_EXPECT(!in.has(1) || (in[1].shape == Shape{D} && in[2].shape == Shape{D}), "affine " + in[1].describe());
    return in[0].shape;
  }
};

// y (..., 2D) = LayerNorm(cat([a, b], -1)) with affine gamma/beta (2D): the skip-fusion norm, concat-free.
struct LayerNormConcat : OpBase {
  static constexpr const char* kName = "layer_norm_concat";
  static constexpr std::array<const char*, 4> kInputs{"a", "b", "gamma", "beta"};
  float eps = 1e-6f;
  template <class F> void fields(F&& f) { f("eps", eps); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &a = in[0], &b = in[1];
    SKIPDIT_OP_EXPECT(a.shape == b.shape && a.dtype == b.dtype, "b " + b.describe() + " for a " + a.describe());
    const int64_t D = a.dim(-1);
    SKIPDIT_OP_EXPECT(in[2].shape == Shape{2 * D} && in[3].shape == Shape{2 * D}, "affine " + in[2].describe());
    Shape out = a.shape;
    out.back() = 2 * D;
    return out;
  }
};

// y (G, N, D) = LayerNorm(x) * (1 + scale) + shift (no affine): the adaLN pre-norm of a block in one pass.
// shift / scale are chunks shift_chunk / scale_chunk of mod as in LinearGateResidual.
struct LayerNormModulate : OpBase {
  static constexpr const char* kName = "layer_norm_modulate";
  static constexpr std::array<const char*, 2> kInputs{"x", "mod"};
  float eps = 1e-6f;
  int64_t group_repeat = 1;
  int64_t shift_chunk = 0, scale_chunk = 1;
  template <class F> void fields(F&& f) {
    f("eps", eps);
    f("repeat", group_repeat);
    f("shiftChunk", shift_chunk);
    f("scaleChunk", scale_chunk);
  }
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].ndim() == 3, "x " + in[0].describe());
    LinearGateResidual::check_cond_rows(in[1], group_repeat, in[0], std::max(shift_chunk, scale_chunk));
    return in[0].shape;
  }
};

// y (B, C, H, W) = GroupNorm(x) with `groups` groups and affine gamma/beta (C), then SiLU when silu.
// frames > 1: the statistics of a group span `frames` consecutive rows (B / frames videos of that many frames in
// the per-frame layout: torch's GroupNorm on the 5-D (B / frames, C, frames, H, W) tensor, the SVD VAE decoder's
// temporal norms); the affine and SiLU stay per channel.
struct GroupNorm : OpBase {
  static constexpr const char* kName = "group_norm";
  static constexpr std::array<const char*, 3> kInputs{"x", "gamma", "beta"};
  int64_t groups = 32;
  float eps = 1e-6f;
  bool silu = false;
  int64_t frames = 1;
  template <class F> void fields(F&& f) {
    f("groups", groups);
    f("eps", eps);
    f("silu", silu);
    f("frames", frames);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& x = in[0];
    SKIPDIT_OP_EXPECT(x.ndim() == 4 && x.dtype == DType::F32 && groups > 0 && x.dim(1) % groups == 0 && frames > 0 &&
                          x.dim(0) % frames == 0,
                      "x " + x.describe() + " for frames " + std::to_string(frames));
    SKIPDIT_OP_EXPECT(in[1].shape == Shape{x.dim(1)} && in[2].shape == Shape{x.dim(1)}, "affine " + in[1].describe());
    return x.shape;
  }
};

}  // namespace skipdit::ops
