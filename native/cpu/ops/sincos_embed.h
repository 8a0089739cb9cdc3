// The fixed sin-cos embeddings of DiT/Latte (computed in float64, rounded to float32 like the official
// numpy code) and the sinusoidal timestep features of TimestepEmbedder (float32 math like PyTorch).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// E(m, q) = [sin(q*w_0..w_{m/2-1}), cos(q*w_0..w_{m/2-1})], w_k = 1/10000^(k/(m/2)); out has m floats.
void sincos_1d(int64_t m, double q, float* out);

// pos_embed (G*G, D) of a G x G grid: token n = r*G + c gets [E(D/2, c), E(D/2, r)] (column first).
void pos_embed_2d(int64_t D, int64_t G, float* out);

// temp_embed (F, D): frame f gets E(D, f).
void pos_embed_1d(int64_t D, int64_t F, float* out);

// t_freq (B, dim): [cos(t*f_0..), sin(t*f_0..)] with f_i = exp(-ln(10000) * i / (dim/2)) in float32
// (TimestepEmbedder.timestep_embedding, max_period 10000; a zero column is appended when dim is odd).
void timestep_frequencies(const float* t, int64_t B, int64_t dim, float* out);

}  // namespace skipdit::cpu
