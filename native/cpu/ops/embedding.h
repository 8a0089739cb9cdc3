// Label embedding lookup (LabelEmbedder in inference mode; the null class is the last row).
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// out (B, D) = table[labels[b]] (nn.Embedding; the caller has range-checked the labels).
void embedding_lookup(const float* table, int64_t D, const int64_t* labels, int64_t B, float* out);

}  // namespace skipdit::cpu
