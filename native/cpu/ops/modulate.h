// adaLN shift/scale modulation, broadcast from one conditioning row to a group of tokens.
//
// Token tensors are (G, N, D): G groups (images, frames or token positions) of N tokens. Group g uses
// conditioning row g / group_repeat of `mod` (Bc, mod_stride), where the chunk needed starts at a column
// offset (chunk j of adaLN_modulation(c).chunk(k) starts at j*D). DiT: G = B, repeat 1. Latte spatial:
// G = B*F, repeat F. Latte temporal: G = B*T, repeat T.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

struct CondRows {
  const float* mod;        // (Bc, stride)
  int64_t stride;          // floats per conditioning row
  int64_t group_repeat;    // groups sharing one conditioning row
  const float* row(int64_t group, int64_t column) const { return mod + (group / group_repeat) * stride + column; }
};

// y = x * (1 + scale) + shift, scale/shift at the given columns. y may equal x.
void modulate(const float* x, int64_t G, int64_t N, int64_t D, CondRows cond, int64_t shift_col, int64_t scale_col,
              float* y);

}  // namespace skipdit::cpu
