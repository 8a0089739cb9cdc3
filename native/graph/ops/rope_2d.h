// Rotary position embedding in Hunyuan-DiT's real form (apply_rotary_emb with cos/sin tables, interleaved
// pairs): x (G, L, H*hd), cos, sin (L, hd) float32, the same table for every head and sequence. Per head,
// pairs (x[2i], x[2i+1]) are (re, im): rot(x)[2i] = -x[2i+1], rot(x)[2i+1] = x[2i];
// y = x * cos + rot(x) * sin (two float32 products, then the sum: bit-exact with PyTorch's float32 math).
// The 2-D part is in the tables (columns 0..hd/2-1 from the width coordinate, hd/2.. from the height).
// x and y: float32, or the activation type of the graph (CUDA; computed in float32, rounded once).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct Rope2d : OpBase {
  static constexpr const char* kName = "rope_2d";
  static constexpr std::array<const char*, 3> kInputs{"x", "cos", "sin"};
  int64_t heads = 1;
  template <class F> void fields(F&& f) { f("heads", heads); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& x = in[0];
    SKIPDIT_OP_EXPECT(x.ndim() == 3 && heads > 0 && x.dim(2) % heads == 0 && (x.dim(2) / heads) % 2 == 0,
                      "x " + x.describe() + " for " + std::to_string(heads) + " heads of an even size");
    const Shape table{x.dim(1), x.dim(2) / heads};
    SKIPDIT_OP_EXPECT(in[1].dtype == DType::F32 && in[1].shape == table, "cos " + in[1].describe());
    SKIPDIT_OP_EXPECT(in[2].dtype == DType::F32 && in[2].shape == table, "sin " + in[2].describe());
    return x.shape;
  }
};

}  // namespace skipdit::ops
