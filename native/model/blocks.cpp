#include "model/blocks.h"

#include <cmath>

#include "backend/backend.h"

namespace skipdit {

Param& ParamSet::add(std::string name, Shape shape, bool linear_weight) {
  auto p = std::make_unique<Param>();
  p->name = std::move(name);
  p->shape = std::move(shape);
  p->linear_weight = linear_weight;
  params_.push_back(std::move(p));
  return *params_.back();
}

Param& ParamSet::add_buffer(std::string name, Shape shape, std::vector<float> value) {
  Param& p = add(std::move(name), std::move(shape));
  p.buffer = true;
  p.value = std::move(value);
  return p;
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

TimestepEmbedder::TimestepEmbedder(ParamSet& ps, const std::string& first, const std::string& second, int64_t hidden)
    : mlp0(ps, first, hidden, kFrequencyDim), mlp2(ps, second, hidden, hidden) {}

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

ValueId PatchEmbedder::operator()(GraphBuilder& b, ValueId x) const { return (*this)(b, x, b.g.activation_dtype()); }

ValueId PatchEmbedder::operator()(GraphBuilder& b, ValueId x, DType out) const {
  return b.g.add(ops::PatchEmbed{}, {x, b(*weight), b(*bias)}, out);
}

AdaLNBlock::AdaLNBlock(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t heads, int64_t mlp_hidden)
    : qkv(ps, prefix + ".attn.qkv", 3 * hidden, hidden),
      proj(ps, prefix + ".attn.proj", hidden, hidden),
      fc1(ps, prefix + ".mlp.fc1", mlp_hidden, hidden),
      fc2(ps, prefix + ".mlp.fc2", hidden, mlp_hidden),
      adaLN(ps, prefix + ".adaLN_modulation.1", 6 * hidden, hidden),
      heads(heads) {}

namespace {
// LayerNorm(x) * (1 + scale) + shift with shift / scale chunks of mod: an adaLN pre-norm (output as GEMM operand).
ValueId modulated_norm(GraphBuilder& b, ValueId x, ValueId mod, float eps, int64_t group_repeat, int64_t shift,
                       int64_t scale) {
  ops::LayerNormModulate op;
  op.eps = eps;
  op.group_repeat = group_repeat;
  op.shift_chunk = shift;
  op.scale_chunk = scale;
  return b.g.add(op, {x, mod}, b.g.operand_dtype());
}

// into += gate * l(x), the gate a chunk of mod: adaLN-Zero's gated residual, in the GEMM's epilogue.
ValueId gated_residual(GraphBuilder& b, const LinearLayer& l, ValueId x, ValueId mod, int64_t group_repeat, int64_t gate,
                       ValueId into) {
  ops::LinearGateResidual op;
  op.group_repeat = group_repeat;
  op.gate_chunk = gate;
  return b.g.add(op, {x, b(*l.weight), l.bias ? b(*l.bias) : kNoValue, mod, into});
}
}  // namespace

ValueId AdaLNBlock::operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat) const {
  Graph& g = b.g;
  const DType act = g.activation_dtype(), operand = g.operand_dtype();
  // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaLN_modulation(c).chunk(6)
  const ValueId mod = adaLN(b, silu_c, DType::F32);
  auto pre_norm = [&](ValueId x, int64_t shift, int64_t scale) {
    return modulated_norm(b, x, mod, kEps, group_repeat, shift, scale);
  };
  auto gated = [&](const LinearLayer& l, ValueId x, ValueId into, int64_t gate) {
    return gated_residual(b, l, x, mod, group_repeat, gate, into);
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

ValueId GroupNormLayer::operator()(GraphBuilder& b, ValueId x, bool silu, int64_t frames) const {
  ops::GroupNorm op;
  op.groups = groups;
  op.eps = eps;
  op.silu = silu;
  op.frames = frames;
  return b.g.add(op, {x, b(*weight), b(*bias)});
}

TemporalConvLayer::TemporalConvLayer(ParamSet& ps, const std::string& prefix, int64_t cout, int64_t cin, int64_t kt)
    : weight(&ps.add(prefix + ".weight", {cout, cin, kt, 1, 1})), bias(&ps.add(prefix + ".bias", {cout})) {}

ValueId TemporalConvLayer::operator()(GraphBuilder& b, ValueId x, int64_t frames) const {
  ops::TemporalConv op;
  op.frames = frames;
  return b.g.add(op, {x, b(*weight), b(*bias)});
}

SkipFusion::SkipFusion(ParamSet& ps, int64_t j, int64_t hidden)
    : norm_weight(&ps.add("skip_norms." + std::to_string(j) + ".weight", {2 * hidden})),
      norm_bias(&ps.add("skip_norms." + std::to_string(j) + ".bias", {2 * hidden})),
      linear(ps, "skip_linears." + std::to_string(j) + ".linear", hidden, 2 * hidden) {}

SkipFusion::SkipFusion(ParamSet& ps, const std::string& norm, const std::string& linear_prefix, int64_t hidden)
    : norm_weight(&ps.add(norm + ".weight", {2 * hidden})),
      norm_bias(&ps.add(norm + ".bias", {2 * hidden})),
      linear(ps, linear_prefix, hidden, 2 * hidden) {}

ValueId SkipFusion::operator()(GraphBuilder& b, ValueId h, ValueId skip, bool float32_stream) const {
  ops::LayerNormConcat norm;
  norm.eps = AdaLNBlock::kEps;
  const DType cat_dtype = float32_stream ? DType::F32 : b.g.operand_dtype();
  const ValueId cat = b.g.add(norm, {h, skip, b(*norm_weight), b(*norm_bias)}, cat_dtype);
  return linear(b, cat, b.g.desc(h).dtype);
}

FinalLayer::FinalLayer(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t patch, int64_t out_channels)
    : adaLN(ps, prefix + ".adaLN_modulation.1", 2 * hidden, hidden),
      linear(ps, prefix + ".linear", patch * patch * out_channels, hidden),
      patch(patch) {}

ValueId FinalLayer::operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat, int64_t grid_w,
                               bool float32_stream) const {
  Graph& g = b.g;
  const ValueId mod = adaLN(b, silu_c, DType::F32);  // shift, scale
  ops::LayerNormModulate norm;
  norm.eps = AdaLNBlock::kEps;
  norm.group_repeat = group_repeat;
  const ValueId normed = g.add(norm, {h, mod}, float32_stream ? DType::F32 : g.operand_dtype());
  const ValueId tokens = linear(b, normed, float32_stream ? DType::F32 : g.activation_dtype());
  g.tap("final_tokens");
  ops::Unpatchify unpatchify;
  unpatchify.patch = patch;
  unpatchify.grid_w = grid_w;
  return g.add(unpatchify, {tokens});
}

// ---- LatteT2V ----

ValueId repeat_rows(Graph& g, ValueId x, int64_t repeat) {
  const TensorDesc d = g.desc(x);
  if (repeat == 1) return x;
  Shape shape = d.shape;
  const int64_t B = shape[0];
  shape[0] = B * repeat;
  const ValueId out = g.empty(shape, d.dtype);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t r = 0; r < repeat; ++r)
      g.add(ops::Copy{}, {g.rows(x, i, i + 1)}, d.dtype, g.rows(out, i * repeat + r, i * repeat + r + 1));
  return out;
}

ValueId table_modulation(GraphBuilder& b, const Param& table, ValueId cond) {
  Graph& g = b.g;
  const int64_t B = g.desc(cond).shape[0], k = table.shape[0], D = table.shape[1];
  ValueId m = g.add(ops::Copy{}, {cond}, DType::F32);
  m = g.add(ops::AddBroadcastRows{}, {g.reshape(m, {B, k, D}), b(table)});
  return g.reshape(m, {B, k * D});
}

ValueId channels_frames_to_frames(Graph& g, ValueId x, int64_t batch) {
  const Shape s = g.desc(x).shape;  // (B, C, F, H, W)
  ops::SwapTokenAxes swap;
  swap.batch = batch;
  const ValueId y = g.add(swap, {g.reshape(x, {s[0] * s[1], s[2], s[3] * s[4]})}, g.desc(x).dtype);
  return g.reshape(y, {s[0] * s[2], s[1], s[3], s[4]});
}

ValueId frames_to_channels_frames(Graph& g, ValueId x, int64_t batch) {
  const Shape s = g.desc(x).shape;  // (B*F, C, H, W)
  const int64_t F = s[0] / batch;
  ops::SwapTokenAxes swap;
  swap.batch = batch;
  const ValueId y = g.add(swap, {g.reshape(x, {s[0], s[1], s[2] * s[3]})}, g.desc(x).dtype);
  return g.reshape(y, {batch, s[1], F, s[2], s[3]});
}

namespace {
// E(dim, q) into out[0..dim)
void sincos_row(int64_t dim, double q, float* out) {
  const int64_t half = dim / 2;
  for (int64_t k = 0; k < half; ++k) {
    const double omega = 1.0 / std::pow(10000.0, double(k) / double(half));
    out[k] = float(std::sin(q * omega));
    out[half + k] = float(std::cos(q * omega));
  }
}
}  // namespace

std::vector<float> sincos_2d(int64_t dim, int64_t grid, int64_t base_size, double interpolation_scale) {
  std::vector<float> out(size_t(grid * grid * dim));
  for (int64_t r = 0; r < grid; ++r)
    for (int64_t c = 0; c < grid; ++c) {
      // np.arange(grid, float32) / (grid / base_size) / interpolation_scale
      const float gf = float(grid) / float(base_size);
      const double pr = double(float(float(r) / gf) / float(interpolation_scale));
      const double pc = double(float(float(c) / gf) / float(interpolation_scale));
      float* row = out.data() + (r * grid + c) * dim;
      sincos_row(dim / 2, pc, row);  // first half: the column (meshgrid(w, h)[0])
      sincos_row(dim / 2, pr, row + dim / 2);
    }
  return out;
}

std::vector<float> sincos_1d(int64_t dim, int64_t length) {
  std::vector<float> out(size_t(length * dim));
  for (int64_t f = 0; f < length; ++f) sincos_row(dim, double(f), out.data() + f * dim);
  return out;
}

AdaLNSingle::AdaLNSingle(ParamSet& ps, const std::string& prefix, int64_t hidden)
    : emb(ps, prefix + ".emb.timestep_embedder.linear_1", prefix + ".emb.timestep_embedder.linear_2", hidden),
      linear(ps, prefix + ".linear", 6 * hidden, hidden) {}

std::pair<ValueId, ValueId> AdaLNSingle::operator()(GraphBuilder& b, ValueId t) const {
  const ValueId e = emb(b, t);
  const ValueId t6 = linear(b, b.g.add(ops::Silu{}, {e}), DType::F32);
  b.g.tap("t_mod");
  return {e, t6};
}

CaptionProjection::CaptionProjection(ParamSet& ps, const std::string& prefix, int64_t caption_channels, int64_t hidden,
                                     int64_t null_tokens)
    : y_embedding(&ps.add(prefix + ".y_embedding", {null_tokens, caption_channels})),
      linear_1(ps, prefix + ".linear_1", hidden, caption_channels),
      linear_2(ps, prefix + ".linear_2", hidden, hidden) {}

ValueId CaptionProjection::operator()(GraphBuilder& b, ValueId caption) const {
  // float32 text in: the hidden is an activation (the CPU GEMM stores bf16 operands only from bf16 inputs)
  const ValueId hidden = linear_1(b, caption, b.g.activation_dtype(), Activation::GeluTanh);
  const ValueId out = linear_2(b, hidden, b.g.activation_dtype());
  b.g.tap("caption");
  return out;
}

AttentionLayer::AttentionLayer(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t context, int64_t heads)
    : to_q(ps, prefix + ".to_q", hidden, hidden),
      to_k(ps, prefix + ".to_k", hidden, context),
      to_v(ps, prefix + ".to_v", hidden, context),
      to_out(ps, prefix + ".to_out.0", hidden, hidden),
      heads(heads) {}

ValueId AttentionLayer::attend(GraphBuilder& b, ValueId x, ValueId context, ValueId bias) const {
  const DType act = b.g.activation_dtype();
  ops::Sdpa sdpa;
  sdpa.heads = heads;
  return b.g.add(sdpa, {to_q(b, x, act), to_k(b, context, act), to_v(b, context, act), bias, kNoValue}, act);
}

AdaLNSingleBlock::AdaLNSingleBlock(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t heads,
                                   int64_t ff_inner, bool cross, int64_t context)
    : scale_shift_table(&ps.add(prefix + ".scale_shift_table", {6, hidden})),
      attn1(ps, prefix + ".attn1", hidden, hidden, heads),
      attn2(cross ? std::make_unique<AttentionLayer>(ps, prefix + ".attn2", hidden, context, heads) : nullptr),
      unit_gate(cross ? &ps.add_buffer(prefix + ".attn2.unit_gate", {1, hidden}, std::vector<float>(size_t(hidden), 1.0f))
                      : nullptr),
      ff0(ps, prefix + ".ff.net.0.proj", ff_inner, hidden),
      ff2(ps, prefix + ".ff.net.2", hidden, ff_inner) {}

ValueId AdaLNSingleBlock::operator()(GraphBuilder& b, ValueId h, ValueId t6, int64_t group_repeat, ValueId enc,
                                     ValueId enc_bias) const {
  Graph& g = b.g;
  const DType operand = g.operand_dtype();
  const ValueId mod = table_modulation(b, *scale_shift_table, t6);
  auto pre_norm = [&](ValueId x, int64_t shift, int64_t scale) {
    return modulated_norm(b, x, mod, kEps, group_repeat, shift, scale);
  };
  auto gated = [&](const LinearLayer& l, ValueId x, ValueId into, int64_t gate) {
    return gated_residual(b, l, x, mod, group_repeat, gate, into);
  };
  const ValueId n = pre_norm(h, 0, 1);
  h = gated(attn1.to_out, attn1.attend(b, n, n, kNoValue), h, 2);
  if (attn2) {  // PixArt: no norm and no gate around the cross-attention: h += to_out(attn2(h, enc)) (gate 1)
    const ValueId a = attn2->attend(b, h, enc, enc_bias);
    ops::LinearGateResidual op;
    op.group_repeat = g.desc(h).shape[0];
    op.gate_chunk = 0;
    const LinearLayer& l = attn2->to_out;
    h = g.add(op, {a, b(*l.weight), b(*l.bias), b(*unit_gate), h});
  }
  const ValueId hidden = ff0(b, pre_norm(h, 3, 4), operand, Activation::GeluTanh);
  return gated(ff2, hidden, h, 5);
}

}  // namespace skipdit
