// y (..., N) = act(x (..., K) @ w (N, K)^T + bias (N)). w is a Backend::prepare_linear weight (its logical shape
// (N, K) is what the graph sees). x and y: float32, or the activation / operand type of the graph.
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct Linear : OpBase {
  static constexpr const char* kName = "linear";
  static constexpr std::array<const char*, 3> kInputs{"x", "w", "bias?"};
  Activation act = Activation::None;
  template <class F> void fields(F&& f) { f("act", act); }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &w = in[1];
    SKIPDIT_OP_EXPECT(w.ndim() == 2 && x.ndim() >= 1 && x.dim(-1) == w.dim(1), "w " + w.describe() + " for x " + x.describe());
    SKIPDIT_OP_EXPECT(!in.has(2) || in[2].shape == Shape{w.dim(0)}, "bias " + in[2].describe());
    Shape out = x.shape;
    out.back() = w.dim(0);
    return out;
  }
  double flops(const OpInputs& in, const Shape& out) const { return 2.0 * shape_numel(out) * in[0].dim(-1); }
};

// h (G, N, D) += gate * (x (G, N, K) @ w (D, K)^T + bias): a linear whose epilogue is adaLN-Zero's gated
// residual. gate is chunk gate_chunk of mod (G / group_repeat, k*D): group g uses row g / group_repeat.
struct LinearGateResidual : OpBase {
  static constexpr const char* kName = "linear_gate_residual";
  static constexpr std::array<const char*, 5> kInputs{"x", "w", "bias?", "mod", "h"};
  static constexpr int kInPlace = 4;
  int64_t group_repeat = 1;
  int64_t gate_chunk = 0;
  template <class F> void fields(F&& f) {
    f("repeat", group_repeat);
    f("gateChunk", gate_chunk);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc &x = in[0], &w = in[1], &mod = in[3], &h = in[4];
    SKIPDIT_OP_EXPECT(h.ndim() == 3 && x.ndim() == 3 && x.dim(0) == h.dim(0) && x.dim(1) == h.dim(1), "x " + x.describe());
    SKIPDIT_OP_EXPECT(w.ndim() == 2 && w.dim(0) == h.dim(2) && w.dim(1) == x.dim(2), "w " + w.describe());
    SKIPDIT_OP_EXPECT(!in.has(2) || in[2].shape == Shape{w.dim(0)}, "bias " + in[2].describe());
    check_cond_rows(mod, group_repeat, h, gate_chunk);
    return h.shape;
  }
  double flops(const OpInputs& in, const Shape& out) const { return 2.0 * shape_numel(out) * in[0].dim(-1); }

  // mod (G / repeat, k*D) float32 holding column chunk `chunk` (shared with LayerNormModulate).
  static void check_cond_rows(const TensorDesc& mod, int64_t repeat, const TensorDesc& x, int64_t chunk) {
    const int64_t G = x.dim(0), D = x.dim(2);
    SKIPDIT_OP_EXPECT(mod.dtype == DType::F32 && mod.ndim() == 2 && mod.dim(1) % D == 0 && (chunk + 1) * D <= mod.dim(1),
                      "mod " + mod.describe());
    SKIPDIT_OP_EXPECT(repeat > 0 && G % repeat == 0 && G / repeat == mod.dim(0), "mod rows " + mod.describe());
  }
};

}  // namespace skipdit::ops
