#include "model/blocks.h"

#include "backend/backend.h"

namespace skipdit {

Param& ParamSet::add(std::string name, Shape shape, bool linear_weight) {
  params_.push_back(std::make_unique<Param>(Param{std::move(name), std::move(shape), linear_weight, Tensor()}));
  return *params_.back();
}

void Param::bind(Tensor t, Backend& backend) {
  if (linear_weight && t.defined())
    t = keep_f32 ? backend.prepare_linear_f32(t.reshape(graph_shape())) : backend.prepare_linear(t.reshape(graph_shape()));
  tensor = std::move(t);
}

ValueId GraphBuilder::operator()(const Param& p) {
  auto it = constants_.find(&p);
  if (it != constants_.end()) return it->second;
  return constants_[&p] = g.constant(p.tensor, p.graph_shape());
}

LinearLayer::LinearLayer(ParamSet& ps, const std::string& prefix, int64_t out, int64_t in, bool with_bias)
    : weight(&ps.add(prefix + ".weight", {out, in}, true)), bias(with_bias ? &ps.add(prefix + ".bias", {out}) : nullptr) {}

ValueId LinearLayer::operator()(GraphBuilder& b, ValueId x, DType out_dtype, Activation act) const {
  ops::Linear op;
  op.act = act;
  return b.g.add(op, {x, b(*weight), bias ? b(*bias) : kNoValue}, out_dtype);
}

TimestepEmbedder::TimestepEmbedder(ParamSet& ps, const std::string& prefix, int64_t hidden)
    : mlp0(ps, prefix + ".mlp.0", hidden, kFrequencyDim), mlp2(ps, prefix + ".mlp.2", hidden, hidden) {}

ValueId TimestepEmbedder::operator()(GraphBuilder& b, ValueId t) const {
  ops::TimestepFrequencies freq;
  freq.dim = kFrequencyDim;
  ValueId f = b.g.add(freq, {t});
  b.g.tap("t_freq");
  ValueId hidden = b.g.add(ops::Silu{}, {mlp0(b, f, DType::F32)});
  ValueId c = mlp2(b, hidden, DType::F32);
  b.g.tap("t_emb");
  return c;
}

LabelEmbedder::LabelEmbedder(ParamSet& ps, const std::string& prefix, int64_t rows, int64_t hidden)
    : table(&ps.add(prefix + ".embedding_table.weight", {rows, hidden})) {}

ValueId LabelEmbedder::operator()(GraphBuilder& b, ValueId labels) const {
  ValueId e = b.g.add(ops::Embedding{}, {b(*table), labels});
  b.g.tap("y_emb");
  return e;
}

ValueId adaln_conditioning(GraphBuilder& b, const TimestepEmbedder& t_embedder, const LabelEmbedder* y_embedder,
                           ValueId t, ValueId y) {
  b.g.begin_block("t_embedder");
  ValueId c = t_embedder(b, t);
  if (y_embedder) {
    b.g.begin_block("y_embedder");
    c = b.g.add(ops::Add{}, {c, (*y_embedder)(b, y)});
  }
  return b.g.add(ops::Silu{}, {c});
}

PatchEmbedder::PatchEmbedder(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t channels, int64_t patch)
    : weight(&ps.add(prefix + ".proj.weight", {hidden, channels, patch, patch})), bias(&ps.add(prefix + ".proj.bias", {hidden})) {}

ValueId PatchEmbedder::operator()(GraphBuilder& b, ValueId x) const {
  return b.g.add(ops::PatchEmbed{}, {x, b(*weight), b(*bias)}, b.g.activation_dtype());
}

AdaLNBlock::AdaLNBlock(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t heads, int64_t mlp_hidden)
    : qkv(ps, prefix + ".attn.qkv", 3 * hidden, hidden),
      proj(ps, prefix + ".attn.proj", hidden, hidden),
      fc1(ps, prefix + ".mlp.fc1", mlp_hidden, hidden),
      fc2(ps, prefix + ".mlp.fc2", hidden, mlp_hidden),
      adaLN(ps, prefix + ".adaLN_modulation.1", 6 * hidden, hidden),
      heads(heads) {}

ValueId AdaLNBlock::operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat) const {
  Graph& g = b.g;
  const DType act = g.activation_dtype(), operand = g.operand_dtype();
  // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaLN_modulation(c).chunk(6)
  const ValueId mod = adaLN(b, silu_c, DType::F32);
  auto pre_norm = [&](ValueId x, int64_t shift, int64_t scale) {
    ops::LayerNormModulate op;
    op.eps = kEps;
    op.group_repeat = group_repeat;
    op.shift_chunk = shift;
    op.scale_chunk = scale;
    return g.add(op, {x, mod}, operand);
  };
  auto gated = [&](const LinearLayer& l, ValueId x, ValueId into, int64_t gate) {
    ops::LinearGateResidual op;
    op.group_repeat = group_repeat;
    op.gate_chunk = gate;
    return g.add(op, {x, b(*l.weight), l.bias ? b(*l.bias) : kNoValue, mod, into});
  };
  // attention branch: h += gate_msa * proj(attn(modulate(norm1(h))))
  ops::Attention attention;
  attention.heads = heads;
  const ValueId attn = g.add(attention, {qkv(b, pre_norm(h, 0, 1), act)}, act);
  h = gated(proj, attn, h, 2);
  // MLP branch: h += gate_mlp * fc2(gelu(fc1(modulate(norm2(h)))))
  const ValueId hidden = fc1(b, pre_norm(h, 3, 4), operand, Activation::GeluTanh);
  return gated(fc2, hidden, h, 5);
}

Conv2dLayer::Conv2dLayer(ParamSet& ps, const std::string& prefix, int64_t cout, int64_t cin, int64_t k)
    : weight(&ps.add(prefix + ".weight", {cout, cin, k, k}, true)), bias(&ps.add(prefix + ".bias", {cout})), k(k) {}

ValueId Conv2dLayer::operator()(GraphBuilder& b, ValueId x) const {
  ops::Conv2d op;
  op.k = k;
  return b.g.add(op, {x, b(*weight), b(*bias)});
}

GroupNormLayer::GroupNormLayer(ParamSet& ps, const std::string& prefix, int64_t channels, int64_t groups, float eps)
    : weight(&ps.add(prefix + ".weight", {channels})), bias(&ps.add(prefix + ".bias", {channels})), groups(groups), eps(eps) {}

ValueId GroupNormLayer::operator()(GraphBuilder& b, ValueId x, bool silu) const {
  ops::GroupNorm op;
  op.groups = groups;
  op.eps = eps;
  op.silu = silu;
  return b.g.add(op, {x, b(*weight), b(*bias)});
}

SkipFusion::SkipFusion(ParamSet& ps, int64_t j, int64_t hidden)
    : norm_weight(&ps.add("skip_norms." + std::to_string(j) + ".weight", {2 * hidden})),
      norm_bias(&ps.add("skip_norms." + std::to_string(j) + ".bias", {2 * hidden})),
      linear(ps, "skip_linears." + std::to_string(j) + ".linear", hidden, 2 * hidden) {}

ValueId SkipFusion::operator()(GraphBuilder& b, ValueId h, ValueId skip) const {
  ops::LayerNormConcat norm;
  norm.eps = AdaLNBlock::kEps;
  const ValueId cat = b.g.add(norm, {h, skip, b(*norm_weight), b(*norm_bias)}, b.g.operand_dtype());
  return linear(b, cat, b.g.desc(h).dtype);
}

FinalLayer::FinalLayer(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t patch, int64_t out_channels)
    : adaLN(ps, prefix + ".adaLN_modulation.1", 2 * hidden, hidden),
      linear(ps, prefix + ".linear", patch * patch * out_channels, hidden),
      patch(patch) {}

ValueId FinalLayer::operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat) const {
  Graph& g = b.g;
  const ValueId mod = adaLN(b, silu_c, DType::F32);  // shift, scale
  ops::LayerNormModulate norm;
  norm.eps = AdaLNBlock::kEps;
  norm.group_repeat = group_repeat;
  const ValueId tokens = linear(b, g.add(norm, {h, mod}, g.operand_dtype()), g.activation_dtype());
  g.tap("final_tokens");
  ops::Unpatchify unpatchify;
  unpatchify.patch = patch;
  return g.add(unpatchify, {tokens});
}

}  // namespace skipdit
