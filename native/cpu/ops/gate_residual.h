// The gated residual of adaLN-Zero: h += gate * y, gate broadcast from a conditioning row per group.
#pragma once
#include <cstdint>

#include "cpu/ops/modulate.h"

namespace skipdit::cpu {

// h, y (G, N, D); gate at column gate_col of the group's conditioning row (see CondRows).
void gate_residual(float* h, const float* y, int64_t G, int64_t N, int64_t D, CondRows cond, int64_t gate_col);

}  // namespace skipdit::cpu
