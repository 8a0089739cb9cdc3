// Conversions of stored weights to float32 (bf16/fp16 checkpoints are widened once at load).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace skipdit {

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_f32(uint16_t h);

// Writes src.numel() floats to dst; src is F32, F16 or BF16 (any alignment), otherwise InvalidArgument.
void convert_to_f32(const Tensor& src, float* dst);

}  // namespace skipdit
