// Building blocks of the text encoders (T5, BERT), each holding its parameters under their state_dict names
// (model/blocks.h: Param, ParamSet, GraphBuilder, LinearLayer) and adding its nodes to a graph.
//
// Text encoders keep float32 token activations on every backend: the residual adds and the embeddings are float32
// ops, and on CUDA a linear layer of bf16 / fp16 weights rounds its float32 input to the weight type as it stages
// it (fp32 accumulation), so only the weights and the GEMM operands are low precision.
#pragma once
#include <string>

#include "model/blocks.h"

namespace skipdit {

// An embedding table (rows, dim): ids (...) int64 -> (..., dim).
struct EmbeddingTable {
  Param* table;
  EmbeddingTable(ParamSet& ps, const std::string& name, int64_t rows, int64_t dim);
  ValueId operator()(GraphBuilder& b, ValueId ids) const;
};

// T5LayerNorm: x * rsqrt(mean(x^2) + eps) * weight, no mean, no bias.
struct RmsNormLayer {
  Param* weight;
  float eps;
  RmsNormLayer(ParamSet& ps, const std::string& name, int64_t dim, float eps);
  ValueId operator()(GraphBuilder& b, ValueId x) const;
};

// nn.LayerNorm(dim, eps) with affine weight / bias (BERT's `LayerNorm.weight` / `.bias`).
struct AffineLayerNorm {
  Param *weight, *bias;
  float eps;
  AffineLayerNorm(ParamSet& ps, const std::string& prefix, int64_t dim, float eps);
  ValueId operator()(GraphBuilder& b, ValueId x) const;
};

// Multi-head self-attention with separate q / k / v / output projections (T5Attention, BertSelfAttention +
// BertSelfOutput.dense): x (B, L, D) -> o(sdpa(q(x), k(x), v(x))) (B, L, D). q / k / v map D -> heads * head_dim.
// scale 0 is 1/sqrt(head_dim) (BERT), T5 uses 1. bias: an additive (1|B, 1|H, 1|L, L) float32 score bias (T5's
// position bias) or kNoValue; mask: (B, L) float32 key mask or kNoValue, added as (1 - m) * finfo(float32).min.
struct SelfAttention {
  LinearLayer q, k, v, o;
  int64_t heads;
  float scale;
  struct Names {
    std::string q, k, v, o;  // the four linear layers' prefixes
  };
  SelfAttention(ParamSet& ps, const Names& names, int64_t dim, int64_t heads, int64_t head_dim, bool with_bias, float scale);
  ValueId operator()(GraphBuilder& b, ValueId x, ValueId bias, ValueId mask) const;
};

}  // namespace skipdit
