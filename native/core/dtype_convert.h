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

// Round to nearest even, as torch's .to(bfloat16) and the CPU backend's weight rounding; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// Writes src.numel() floats to dst; src is F32, F16 or BF16 (any alignment), otherwise InvalidArgument.
void convert_to_f32(const Tensor& src, float* dst);

}  // namespace skipdit
