// Token-tensor plumbing: broadcast adds, label lookup, unpatchify and the Latte re-layouts.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// x (G, N, D) += e (N, D) for every group (pos_embed, temp_embed).
void add_broadcast_rows(float* x, int64_t G, int64_t N, int64_t D, const float* e);

// out (B, D) = table[labels[b]] (nn.Embedding; the caller has range-checked the labels).
void embedding_lookup(const float* table, int64_t D, const int64_t* labels, int64_t B, float* out);

// (B, T, p*p*C) -> (B, C, G*p, G*p) with T = G*G, feature index inside a token (pi*p + pj)*C + ch
// (reshape (B, G, G, p, p, C) then einsum nhwpqc->nchpwq).
void unpatchify(const float* tokens, int64_t B, int64_t G, int64_t p, int64_t C, float* out);

// (B, A1, A2, D) -> (B, A2, A1, D): Latte's '(b f) t d -> (b t) f d' (A1 = F, A2 = T) and back (A1 = T, A2 = F).
void swap_token_axes(const float* x, int64_t B, int64_t A1, int64_t A2, int64_t D, float* y);

}  // namespace skipdit::cpu
