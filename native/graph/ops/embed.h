// Embedders and the patch (un)folding of DiT / Latte.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

// tokens (B, T, D) = Conv2d(kernel = stride = p)(x (B, C, H, W)) flattened; w (D, C, p, p) float32, bias (D).
struct PatchEmbed : OpBase {
  static constexpr const char* kName = "patch_embed";
  static constexpr std::array<const char*, 3> kInputs{"x", "w", "bias"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &w = in[1];
    SKIPDIT_OP_EXPECT(x.ndim() == 4 && x.dtype == DType::F32, "x " + x.describe());
    SKIPDIT_OP_EXPECT(w.ndim() == 4 && w.dim(1) == x.dim(1) && w.dim(2) == w.dim(3) && in[2].shape == Shape{w.dim(0)},
                      "w " + w.describe());
    const int64_t p = w.dim(2);
    SKIPDIT_OP_EXPECT(x.dim(2) % p == 0 && x.dim(3) % p == 0, "x " + x.describe() + " for patch " + std::to_string(p));
    return {x.dim(0), (x.dim(2) / p) * (x.dim(3) / p), w.dim(0)};
  }
  double flops(const OpInputs& in, const Shape& out) const {
    return 2.0 * shape_numel(out) * in[1].dim(1) * in[1].dim(2) * in[1].dim(3);
  }
};

// out (B, dim) = the sinusoidal features of timesteps t (B) float32 (TimestepEmbedder.timestep_embedding).
struct TimestepFrequencies : OpBase {
  static constexpr const char* kName = "timestep_frequencies";
  static constexpr std::array<const char*, 1> kInputs{"t"};
  int64_t dim = 256;
  template <class F> void fields(F&& f) { f("dim", dim); }
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].ndim() == 1 && in[0].dtype == DType::F32 && dim > 0, "t " + in[0].describe());
    return {in[0].dim(0), dim};
  }
};

// out (..., D) = table (R, D)[ids (...) int64]. The ids must be in [0, R): checked where they come from.
struct Embedding : OpBase {
  static constexpr const char* kName = "embedding";
  static constexpr std::array<const char*, 2> kInputs{"table", "ids"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].ndim() == 2 && in[0].dtype == DType::F32, "table " + in[0].describe());
    SKIPDIT_OP_EXPECT(in[1].dtype == DType::I64, "ids " + in[1].describe());
    Shape out = in[1].shape;
    out.push_back(in[0].dim(1));
    return out;
  }
};

// out (B, C, Gh*p, Gw*p) float32 from tokens (B, Gh*Gw, p*p*C) (FinalLayer's unpatchify); grid_w 0: a square
// grid (Gh = Gw), else the token grid's width (Hunyuan-DiT's any-aspect images).
struct Unpatchify : OpBase {
  static constexpr const char* kName = "unpatchify";
  static constexpr std::array<const char*, 1> kInputs{"tokens"};
  int64_t patch = 2;
  int64_t grid_w = 0;
  template <class F> void fields(F&& f) {
    f("patch", patch);
    f("gridW", grid_w);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& t = in[0];
    SKIPDIT_OP_EXPECT(t.ndim() == 3 && patch > 0 && t.dim(2) % (patch * patch) == 0, "tokens " + t.describe());
    if (grid_w > 0) {
      SKIPDIT_OP_EXPECT(t.dim(1) % grid_w == 0, "tokens " + t.describe() + " on a grid " + std::to_string(grid_w) + " wide");
      return {t.dim(0), t.dim(2) / (patch * patch), t.dim(1) / grid_w * patch, grid_w * patch};
    }
    int64_t G = 0;
    while (G * G < t.dim(1)) ++G;
    SKIPDIT_OP_EXPECT(G * G == t.dim(1), "tokens " + t.describe() + ": a square token grid");
    return {t.dim(0), t.dim(2) / (patch * patch), G * patch, G * patch};
  }
};

}  // namespace skipdit::ops
