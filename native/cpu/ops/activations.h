// Elementwise activations with PyTorch's float32 formulas.
#pragma once
#include <cmath>
#include <cstdint>

namespace skipdit::cpu {

// GELU, tanh approximation (nn.GELU(approximate="tanh")): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
inline float gelu_tanh(float x) {
  const float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
  const float kKappa = 0.044715f;
  float inner = kBeta * (x + kKappa * (x * x * x));
  return 0.5f * x * (1.0f + std::tanh(inner));
}

// SiLU: x * sigmoid(x) = x / (1 + exp(-x)).
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// In place over n floats (x may equal y).
void gelu_tanh(const float* x, int64_t n, float* y);
void silu(const float* x, int64_t n, float* y);

}  // namespace skipdit::cpu
