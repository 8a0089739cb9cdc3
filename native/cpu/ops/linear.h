// y = x @ w^T + bias, optionally followed by GELU(tanh): the nn.Linear of every layer.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

enum class Epilogue { None, GeluTanh };

// x (M, K), w (N, K) as stored by PyTorch, bias (N) or nullptr, y (M, N). y must not alias x.
void linear(const float* x, int64_t M, int64_t K, const float* w, const float* bias, int64_t N, float* y,
            Epilogue epilogue = Epilogue::None);

}  // namespace skipdit::cpu
