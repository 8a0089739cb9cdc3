// Unpatchify: final-layer tokens back to images.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// (B, T, p*p*C) -> (B, C, G*p, G*p) with T = G*G, feature index inside a token (pi*p + pj)*C + ch
// (reshape (B, G, G, p, p, C) then einsum nhwpqc->nchpwq).
void unpatchify(const float* tokens, int64_t B, int64_t G, int64_t p, int64_t C, float* out);

}  // namespace skipdit::cpu
