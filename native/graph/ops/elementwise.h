// Elementwise ops and copies.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

// y = x * sigmoid(x), float32.
struct Silu : OpBase {
  static constexpr const char* kName = "silu";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].dtype == DType::F32, "x " + in[0].describe());
    return in[0].shape;
  }
};

// x += y (same shape), float32, in place.
struct Add : OpBase {
  static constexpr const char* kName = "add";
  static constexpr std::array<const char*, 2> kInputs{"x", "y"};
  static constexpr int kInPlace = 0;
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    SKIPDIT_OP_EXPECT(in[0].numel() == in[1].numel() && in[0].dtype == DType::F32 && in[1].dtype == DType::F32,
                      "y " + in[1].describe() + " for x " + in[0].describe());
    return in[0].shape;
  }
};

// x (G, N, D) += e (N, D) float32, in place (positional embeddings).
struct AddBroadcastRows : OpBase {
  static constexpr const char* kName = "add_broadcast_rows";
  static constexpr std::array<const char*, 2> kInputs{"x", "e"};
  static constexpr int kInPlace = 0;
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &e = in[1];
    SKIPDIT_OP_EXPECT(x.ndim() == 3 && e.dtype == DType::F32 && e.numel() == x.dim(1) * x.dim(2), "e " + e.describe());
    return x.shape;
  }
};

// y = x, any dtype (skip branches saved before a block updates h in place, Skip-Cache features).
struct Copy : OpBase {
  static constexpr const char* kName = "copy";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  template <class F> void fields(F&&) {}
  Shape infer(const OpInputs& in) const { return in[0].shape; }
};

// x (batch*A1, A2, D) -> y (batch*A2, A1, D): Latte's '(b f) t d <-> (b t) f d'.
struct SwapTokenAxes : OpBase {
  static constexpr const char* kName = "swap_token_axes";
  static constexpr std::array<const char*, 1> kInputs{"x"};
  int64_t batch = 1;
  template <class F> void fields(F&& f) { f("batch", batch); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& x = in[0];
    SKIPDIT_OP_EXPECT(x.ndim() == 3 && batch > 0 && x.dim(0) % batch == 0, "x " + x.describe());
    return {batch * x.dim(1), x.dim(0) / batch, x.dim(2)};
  }
};

}  // namespace skipdit::ops
