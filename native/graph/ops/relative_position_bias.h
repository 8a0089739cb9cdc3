// T5's bucketed relative position bias (T5Attention.compute_bias): table (num_buckets, H) float32
// (relative_attention_bias.weight) -> out (1, H, q_len, k_len) float32, out[0, h, i, j] = table[bucket(j - i), h]
// with transformers' _relative_position_bucket: bidirectional (the encoder) halves the buckets between
// positive and other offsets; |offsets| below max_exact = buckets / 2 get their own bucket, larger ones
// max_exact + int64(float32 log(|rel| / max_exact) / log(max_distance / max_exact) * (buckets - max_exact)),
// capped at buckets - 1 (float32 math as torch's, truncation toward zero).
#pragma once
#include "graph/op.h"

namespace skipdit::ops {

struct RelativePositionBias : OpBase {
  static constexpr const char* kName = "relative_position_bias";
  static constexpr std::array<const char*, 1> kInputs{"table"};
  int64_t q_len = 1, k_len = 1;
  int64_t num_buckets = 32, max_distance = 128;
  bool bidirectional = true;
  template <class F> void fields(F&& f) {
    f("qLen", q_len);
    f("kLen", k_len);
    f("numBuckets", num_buckets);
    f("maxDistance", max_distance);
    f("bidirectional", bidirectional);
  }
  Shape infer(const OpInputs& in) const {
    const TensorDesc& t = in[0];
    const int64_t max_exact = (bidirectional ? num_buckets / 2 : num_buckets) / 2;
    SKIPDIT_OP_EXPECT(q_len > 0 && k_len > 0 && max_exact >= 1 && max_distance > max_exact,
                      "q_len " + std::to_string(q_len) + ", k_len " + std::to_string(k_len) + ", buckets " +
                          std::to_string(num_buckets) + ", max_distance " + std::to_string(max_distance));
    SKIPDIT_OP_EXPECT(t.dtype == DType::F32 && t.ndim() == 2 && t.dim(0) == num_buckets,
                      "table " + t.describe() + " for " + std::to_string(num_buckets) + " buckets");
    return {1, t.dim(1), q_len, k_len};
  }
};

}  // namespace skipdit::ops
