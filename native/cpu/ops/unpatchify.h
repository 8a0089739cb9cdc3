// Unpatchify: final-layer tokens back to images.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// (B, T, p*p*C) -> (B, C, Gh*p, Gw*p) with T = Gh*Gw (token r*Gw + c), feature index inside a token
// (pi*p + pj)*C + ch (reshape (B, Gh, Gw, p, p, C) then einsum nhwpqc->nchpwq).
void unpatchify(const float* tokens, int64_t B, int64_t Gh, int64_t Gw, int64_t p, int64_t C, float* out);

}  // namespace skipdit::cpu
