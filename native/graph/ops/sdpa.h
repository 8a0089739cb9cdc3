// Scaled dot-product multi-head attention with separate q, k, v (self- or cross-attention):
//   q (G, Lq, H*hd), k (G, Lk, H*hd), v (G, Lk, H*hd) -> out (G, Lq, H*hd), heads concatenated per token.
// Per (g, h): s = (q k^T) * scale + (bias + mask), p = softmax(s) over the Lk keys (float32, max subtracted),
// out = p v. scale 0 means 1/sqrt(hd) (T5 uses 1: its scaling is folded into the q weights).
//   bias?      float32 (Gb, Hb, Lqb, Lk), Gb in {1, G}, Hb in {1, H}, Lqb in {1, Lq}, broadcast: T5's position
//              bias (1, H, Lq, Lk), diffusers' additive mask (G, 1, 1, Lk), any additive mask.
//   key_mask?  float32 (G, Lk), 1 keep / 0 masked, added as transformers does: (1 - m) * finfo(float32).min,
//              summed with the bias first (T5's position_bias + mask). A fully masked row stays finite: every
//              score rounds to finfo.min, softmax makes it uniform (the mean of v), as PyTorch does.
// q, k, v and out: float32, or the activation type of the graph (CUDA); scores and softmax in float32.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct Sdpa : OpBase {
  static constexpr const char* kName = "sdpa";
  static constexpr std::array<const char*, 5> kInputs{"q", "k", "v", "bias?", "key_mask?"};
  int64_t heads = 1;
  float scale = 0.0f;  // 0: 1 / sqrt(hd)
  template <class F> void fields(F&& f) {
    f("heads", heads);
    f("scale", scale);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &q = in[0], &k = in[1], &v = in[2];
    SKIPDIT_OP_EXPECT(q.ndim() == 3 && heads > 0 && q.dim(2) % heads == 0, "q " + q.describe());
    const int64_t G = q.dim(0), Lq = q.dim(1), D = q.dim(2);
    SKIPDIT_OP_EXPECT(k.ndim() == 3 && k.dim(0) == G && k.dim(1) >= 1 && k.dim(2) == D && k.dtype == q.dtype,
                      "k " + k.describe() + " for q " + q.describe());
    const int64_t Lk = k.dim(1);
    SKIPDIT_OP_EXPECT(v.shape == k.shape && v.dtype == q.dtype, "v " + v.describe() + " for k " + k.describe());
    if (in.has(3)) {
      const TensorDesc& b = in[3];
      SKIPDIT_OP_EXPECT(b.dtype == DType::F32 && b.ndim() == 4 && (b.dim(0) == 1 || b.dim(0) == G) &&
                            (b.dim(1) == 1 || b.dim(1) == heads) && (b.dim(2) == 1 || b.dim(2) == Lq) && b.dim(3) == Lk,
                        "bias " + b.describe() + " for scores (" + std::to_string(G) + ", " + std::to_string(heads) +
                            ", " + std::to_string(Lq) + ", " + std::to_string(Lk) + ")");
    }
    SKIPDIT_OP_EXPECT(!in.has(4) || (in[4].dtype == DType::F32 && in[4].shape == Shape{G, Lk}),
                      "key_mask " + in[4].describe() + " for k " + k.describe());
    return q.shape;
  }
  double flops(const OpInputs& in, const Shape& out) const {  // q k^T and p v
    return 4.0 * out[0] * out[1] * in[1].dim(1) * out[2];
  }
};

}  // namespace skipdit::ops
