// Broadcast add of a per-token table (the fixed position / frame embeddings).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// x (G, N, D) += e (N, D) for every group (pos_embed, temp_embed).
void add_broadcast_rows(float* x, int64_t G, int64_t N, int64_t D, const float* e);

}  // namespace skipdit::cpu
