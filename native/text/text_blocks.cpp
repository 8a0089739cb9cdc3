#include "text/text_blocks.h"

namespace skipdit {

EmbeddingTable::EmbeddingTable(ParamSet& ps, const std::string& name, int64_t rows, int64_t dim)
    : table(&ps.add(name, {rows, dim})) {}

ValueId EmbeddingTable::operator()(GraphBuilder& b, ValueId ids) const {
  return b.g.add(ops::Embedding{}, {b(*table), ids});
}

RmsNormLayer::RmsNormLayer(ParamSet& ps, const std::string& name, int64_t dim, float eps)
    : weight(&ps.add(name, {dim})), eps(eps) {}

ValueId RmsNormLayer::operator()(GraphBuilder& b, ValueId x) const {
  ops::RmsNorm op;
  op.eps = eps;
  return b.g.add(op, {x, b(*weight)});
}

AffineLayerNorm::AffineLayerNorm(ParamSet& ps, const std::string& prefix, int64_t dim, float eps)
    : weight(&ps.add(prefix + ".weight", {dim})), bias(&ps.add(prefix + ".bias", {dim})), eps(eps) {}

ValueId AffineLayerNorm::operator()(GraphBuilder& b, ValueId x) const {
  ops::LayerNorm op;
  op.eps = eps;
  return b.g.add(op, {x, b(*weight), b(*bias)});
}

SelfAttention::SelfAttention(ParamSet& ps, const Names& names, int64_t dim, int64_t heads, int64_t head_dim,
                             bool with_bias, float scale)
    : q(ps, names.q, heads * head_dim, dim, with_bias),
      k(ps, names.k, heads * head_dim, dim, with_bias),
      v(ps, names.v, heads * head_dim, dim, with_bias),
      o(ps, names.o, dim, heads * head_dim, with_bias),
      heads(heads),
      scale(scale) {}

ValueId SelfAttention::operator()(GraphBuilder& b, ValueId x, ValueId bias, ValueId mask) const {
  ops::Sdpa sdpa;
  sdpa.heads = heads;
  sdpa.scale = scale;
  const ValueId ctx = b.g.add(sdpa, {q(b, x, DType::F32), k(b, x, DType::F32), v(b, x, DType::F32), bias, mask});
  return o(b, ctx, DType::F32);
}

}  // namespace skipdit
