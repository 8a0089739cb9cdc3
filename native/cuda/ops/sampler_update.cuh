// One DDIM / DDPM sampler update in place (CPU twin: cpu/ops/sampler_update.h): x (outer, C, inner),
// model_out (outer, C or 2C, inner), noise like x or null. Bit-identical to the CPU twin: every product, sum
// and quotient is an explicitly rounded intrinsic (no FMA contraction) and exp is taken in double.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "graph/ops/sampling.h"

namespace skipdit::cuda {
void sampler_update(const float* model_out, bool doubled, int64_t outer, int64_t C, int64_t inner, const float* noise,
                    const SamplerUpdate& u, float* x, cudaStream_t stream);
}  // namespace skipdit::cuda
