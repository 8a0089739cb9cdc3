// Row and column data movement on (G, N, D) float32 tensors: column slices of fused projections, per-group row
// additions, learned rows for padded tokens, token means (Hunyuan-DiT's blocks, text and attention pooler).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

// y (..., width) = x (..., offset : offset + width): q, k and v out of a fused projection (Wqkv, kv_proj).
struct SliceColumns : OpBase {
  static constexpr const char* kName = "slice_columns";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  int64_t offset = 0, width = 1;
  template <class F> void fields(F&& f) {
    f("offset", offset);
    f("width", width);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& x = in[0];
    SKIPDIT_OP_EXPECT(x.dtype == DType::F32 && x.ndim() >= 1 && offset >= 0 && width >= 1 && offset + width <= x.dim(-1),
                      "x " + x.describe() + " for columns [" + std::to_string(offset) + ", " + std::to_string(offset + width) + ")");
    Shape out = x.shape;
    out.back() = width;
    return out;
  }
};

// x (G, N, D) += e (G, D) in place: one row per group broadcast over its N tokens (Hunyuan-DiT's shift-only
// modulation `norm1(x) + shift[:, None]`).
struct AddGroupRows : OpBase {
  static constexpr const char* kName = "add_group_rows";
  static constexpr std::array<const char*, 2> kInputs{"x", "e"};
  static constexpr int kInPlace = 0;
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &e = in[1];
    SKIPDIT_OP_EXPECT(x.dtype == DType::F32 && x.ndim() == 3, "x " + x.describe());
    SKIPDIT_OP_EXPECT(e.dtype == DType::F32 && e.shape == (Shape{x.dim(0), x.dim(2)}), "e " + e.describe() + " for x " + x.describe());
    return x.shape;
  }
};

// y (B, L, D) = keep[b, l] != 0 ? x[b, l] : table[l]: padded tokens replaced by learned rows indexed by their
// position (Hunyuan-DiT's `torch.where(mask, text_states, text_embedding_padding)`). keep (B, L) float32 0/1.
struct SelectRows : OpBase {
  static constexpr const char* kName = "select_rows";
  static constexpr std::array<const char*, 3> kInputs{"x", "keep", "table"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &keep = in[1], &table = in[2];
    SKIPDIT_OP_EXPECT(x.dtype == DType::F32 && x.ndim() == 3, "x " + x.describe());
    SKIPDIT_OP_EXPECT(keep.dtype == DType::F32 && keep.shape == (Shape{x.dim(0), x.dim(1)}), "keep " + keep.describe() + " for x " + x.describe());
    SKIPDIT_OP_EXPECT(table.dtype == DType::F32 && table.shape == (Shape{x.dim(1), x.dim(2)}), "table " + table.describe() + " for x " + x.describe());
    return x.shape;
  }
};

// y (R, A + B) = [a (R, A), b (R, B)] along the columns (torch.cat(dim=1) of two row-major matrices).
struct ConcatColumns : OpBase {
  static constexpr const char* kName = "concat_columns";
  static constexpr std::array<const char*, 2> kInputs{"a", "b"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc &a = in[0], &b = in[1];
    SKIPDIT_OP_EXPECT(a.dtype == DType::F32 && b.dtype == DType::F32 && a.ndim() == 2 && b.ndim() == 2 && a.dim(0) == b.dim(0),
                      "b " + b.describe() + " for a " + a.describe());
    return {a.dim(0), a.dim(1) + b.dim(1)};
  }
};

// y (G, 1, D) = the mean of x (G, N, D) over its N rows (summed in double, rounded once).
struct MeanTokens : OpBase {
  static constexpr const char* kName = "mean_tokens";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc& x = in[0];
    SKIPDIT_OP_EXPECT(x.dtype == DType::F32 && x.ndim() == 3 && x.dim(1) >= 1, "x " + x.describe());
    return {x.dim(0), 1, x.dim(2)};
  }
};

}  // namespace skipdit::ops
