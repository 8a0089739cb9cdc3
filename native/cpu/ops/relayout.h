// Latte token re-layouts between spatial and temporal attention.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// (B, A1, A2, D) -> (B, A2, A1, D): Latte's '(b f) t d -> (b t) f d' (A1 = F, A2 = T) and back (A1 = T, A2 = F).
void swap_token_axes(const float* x, int64_t B, int64_t A1, int64_t A2, int64_t D, float* y);

}  // namespace skipdit::cpu
