// The elementwise part of one DDIM / DDPM step (Backend::sampler_update; the per-step scalars come from the
// caller). Every operation is one float32 op in the order of lib/samplers.ts (itself the official float32 order),
// so the result is bit-identical to the TypeScript reference: this file is compiled with -ffp-contract=off.
#pragma once
#include <cstdint>

#include "graph/ops/sampling.h"

namespace skipdit::cpu {

// x (outer, C, inner) updated in place; model_out (outer, C or 2C, inner): eps, then v when doubled;
// noise (outer, C, inner) or null when !u.needs_noise().
void sampler_update(const float* model_out, bool doubled, int64_t outer, int64_t C, int64_t inner, const float* noise,
                    const SamplerUpdate& u, float* x);

}  // namespace skipdit::cpu
