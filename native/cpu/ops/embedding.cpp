#include "cpu/ops/embedding.h"
#include "cpu/cpu_kernels.h"

#include <cstring>

namespace skipdit::cpu {

void embedding_lookup(const float* table, int64_t D, const int64_t* labels, int64_t B, float* out) {
  for (int64_t b = 0; b < B; ++b) std::memcpy(out + b * D, table + labels[b] * D, D * sizeof(float));
}


// in: table (R, D), ids int64 (in range: checked where they come from; here an invariant)
void kernel(const Context&, const ops::Embedding&, const KernelArgs& a) {
  const Tensor &table = a.in[0], &ids = a.in[1];
  const int64_t* y = ids.i64();
  for (int64_t i = 0; i < ids.numel(); ++i)
    SKIPDIT_CHECK(y[i] >= 0 && y[i] < table.dim(0), "embedding id " + std::to_string(y[i]) + " outside [0, " +
                                                        std::to_string(table.dim(0)) + ")");
  embedding_lookup(table.f32(), table.dim(1), y, ids.numel(), a.out.f32());
}
}  // namespace skipdit::cpu
