// Hunyuan-DiT (Skip-DiT text-to-image/hydit: HunYuanDiT / HunYuanDiT_cache, the v1.2 configuration): x (B, C, h, w)
// of any size (a multiple of the patch), BERT + mT5 text, an attention pooler over the mT5 states, 2-D RoPE, blocks
// with shift-only modulation, qk-normed self- and cross-attention, and long skips built in (see the fixture README
// hunyuan-dit-tiny for the exact math; the official surprises are reproduced: no attention masks, learned rows for
// padded tokens, RoPE on cross-attention queries only, width coordinate first, round-half-to-even grid offsets,
// blocks depth/2-1 and depth/2 unpaired).
#include <cmath>

#include "model/family.h"

namespace skipdit {

namespace {

constexpr float kEps = 1e-6f;
constexpr int64_t kPoolerHeads = 8;   // AttentionPool(num_heads=8), hard-coded
constexpr int64_t kPooledDim = 1024;  // AttentionPool(output_dim=1024), hard-coded

// Python's round(): half to even.
double round_half_even(double x) {
  const double r = std::round(x);
  return std::fabs(x - std::trunc(x)) == 0.5 && std::fmod(r, 2.0) != 0.0 ? r - std::copysign(1.0, x) : r;
}

// LayerNorm(D) with affine weight/bias (the FP32_Layernorm block norms, eps 1e-6).
struct NormLayer {
  Param *weight, *bias;
  NormLayer(ParamSet& ps, const std::string& prefix, int64_t dim)
      : weight(&ps.add(prefix + ".weight", {dim})), bias(&ps.add(prefix + ".bias", {dim})) {}
  ValueId operator()(GraphBuilder& b, ValueId x) const {
    ops::LayerNorm norm;
    norm.eps = kEps;
    return b.g.add(norm, {x, b(*weight), b(*bias)}, DType::F32);
  }
};

ValueId silu(Graph& g, ValueId x) { return g.add(ops::Silu{}, {x}); }

ValueId slice_columns(Graph& g, ValueId x, int64_t offset, int64_t width) {
  ops::SliceColumns op;
  op.offset = offset;
  op.width = width;
  return g.add(op, {x});
}

// (G, N, H*d) -> per head LayerNorm(d) with affine (q_norm / k_norm over head_dim) -> (G, N, H*d).
ValueId head_norm(GraphBuilder& b, const NormLayer& norm, ValueId x, int64_t head_dim) {
  const Shape shape = b.g.desc(x).shape;
  const ValueId rows = b.g.reshape(x, {shape_numel(shape) / head_dim, head_dim});
  return b.g.reshape(norm(b, rows), shape);
}

// HunYuanDiTBlock (non-flash Attention / CrossAttention): h (B, T, D) -> (B, T, D).
struct HunyuanBlock {
  NormLayer norm1, norm2, norm3;
  LinearLayer wqkv, out1, fc1, fc2, modulation, q_proj, kv_proj, out2;
  NormLayer q_norm1, k_norm1, q_norm2, k_norm2;
  std::unique_ptr<SkipFusion> skip;
  int64_t heads, head_dim;

  HunyuanBlock(ParamSet& ps, const std::string& p, const ModelConfig& c, bool with_skip)
      : norm1(ps, p + ".norm1", c.hidden_size),
        norm2(ps, p + ".norm2", c.hidden_size),
        norm3(ps, p + ".norm3", c.hidden_size),
        wqkv(ps, p + ".attn1.Wqkv", 3 * c.hidden_size, c.hidden_size),
        out1(ps, p + ".attn1.out_proj", c.hidden_size, c.hidden_size),
        fc1(ps, p + ".mlp.fc1", c.mlp_hidden(), c.hidden_size),
        fc2(ps, p + ".mlp.fc2", c.hidden_size, c.mlp_hidden()),
        modulation(ps, p + ".default_modulation.1", c.hidden_size, c.hidden_size),
        q_proj(ps, p + ".attn2.q_proj", c.hidden_size, c.hidden_size),
        kv_proj(ps, p + ".attn2.kv_proj", 2 * c.hidden_size, c.text_states_dim),
        out2(ps, p + ".attn2.out_proj", c.hidden_size, c.hidden_size),
        q_norm1(ps, p + ".attn1.q_norm", c.head_dim()),
        k_norm1(ps, p + ".attn1.k_norm", c.head_dim()),
        q_norm2(ps, p + ".attn2.q_norm", c.head_dim()),
        k_norm2(ps, p + ".attn2.k_norm", c.head_dim()),
        heads(c.num_heads),
        head_dim(c.head_dim()) {
    if (with_skip) skip = std::make_unique<SkipFusion>(ps, p + ".skip_norm", p + ".skip_linear", c.hidden_size);
  }

  ValueId attend(Graph& g, ValueId q, ValueId k, ValueId v) const {
    ops::Sdpa sdpa;
    sdpa.heads = heads;
    return g.add(sdpa, {q, k, v, kNoValue, kNoValue});
  }

  ValueId rope(Graph& g, ValueId x, ValueId cos, ValueId sin) const {
    ops::Rope2d op;
    op.heads = heads;
    return g.add(op, {x, cos, sin});
  }

  // h += branch (the residual of every sub-layer), after its tap
  static ValueId residual(Graph& g, ValueId h, ValueId branch, const char* tap) {
    g.tap(tap);
    return g.add(ops::Add{}, {h, branch});
  }

  ValueId operator()(GraphBuilder& b, ValueId h, ValueId silu_c, ValueId text, ValueId cos, ValueId sin) const {
    Graph& g = b.g;
    const int64_t D = heads * head_dim;
    // self-attention: norm1(x) + shift (no scale, no gate); q, k normed per head and rotated
    ValueId n = norm1(b, h);
    n = g.add(ops::AddGroupRows{}, {n, modulation(b, silu_c, DType::F32)});
    const ValueId qkv = wqkv(b, n, DType::F32);
    ValueId q = head_norm(b, q_norm1, slice_columns(g, qkv, 0, D), head_dim);
    ValueId k = head_norm(b, k_norm1, slice_columns(g, qkv, D, D), head_dim);
    q = rope(g, q, cos, sin);
    k = rope(g, k, cos, sin);
    h = residual(g, h, out1(b, attend(g, q, k, slice_columns(g, qkv, 2 * D, D)), DType::F32), "attn1_out");
    // cross-attention to the text (norm3; RoPE on the queries only, no mask)
    q = rope(g, head_norm(b, q_norm2, q_proj(b, norm3(b, h), DType::F32), head_dim), cos, sin);
    const ValueId kv = kv_proj(b, text, DType::F32);
    k = head_norm(b, k_norm2, slice_columns(g, kv, 0, D), head_dim);
    h = residual(g, h, out2(b, attend(g, q, k, slice_columns(g, kv, D, D)), DType::F32), "attn2_out");
    // MLP (norm2; timm Mlp with GELU-tanh)
    const ValueId m = fc2(b, fc1(b, norm2(b, h), DType::F32, Activation::GeluTanh), DType::F32);
    return residual(g, h, m, "mlp_out");
  }
};

class HunyuanDiT final : public Architecture {
 public:
  explicit HunyuanDiT(const ModelConfig& c)
      : Architecture(c),
        text_padding_(&params_.add("text_embedding_padding", {c.text_len + c.text_len_t5, c.text_states_dim})),
        mlp_t5_0_(params_, "mlp_t5.0", 4 * c.text_states_dim_t5, c.text_states_dim_t5),
        mlp_t5_2_(params_, "mlp_t5.2", c.text_states_dim, 4 * c.text_states_dim_t5),
        pooler_pos_(&params_.add("pooler.positional_embedding", {c.text_len_t5 + 1, c.text_states_dim_t5})),
        pooler_k_(params_, "pooler.k_proj", c.text_states_dim_t5, c.text_states_dim_t5),
        pooler_q_(params_, "pooler.q_proj", c.text_states_dim_t5, c.text_states_dim_t5),
        pooler_v_(params_, "pooler.v_proj", c.text_states_dim_t5, c.text_states_dim_t5),
        pooler_c_(params_, "pooler.c_proj", kPooledDim, c.text_states_dim_t5),
        x_embedder_(params_, "x_embedder", c.hidden_size, c.in_channels, c.patch_size),
        t_embedder_(params_, "t_embedder", c.hidden_size),
        extra_0_(params_, "extra_embedder.0", 4 * c.hidden_size,
                 kPooledDim + (c.size_cond ? 6 * TimestepEmbedder::kFrequencyDim : 0) + (c.style_cond ? c.hidden_size : 0)),
        extra_2_(params_, "extra_embedder.2", c.hidden_size, 4 * c.hidden_size),
        final_layer_(params_, "final_layer", c.hidden_size, c.patch_size, c.out_channels()) {
    for (int64_t i = 0; i < c.depth; ++i)
      blocks_.emplace_back(params_, "blocks." + std::to_string(i), c, i > c.depth / 2);
    if (c.style_cond) style_ = &params_.add("style_embedder.weight", {1, c.hidden_size});  // nn.Embedding(1, D)
  }

  // x (B, C, h, w): the config's input_size by default, any multiple of the patch in a call.
  Shape input_shape(int64_t batch) const override {
    return {batch, config_.in_channels, config_.input_size, config_.input_size};
  }
  bool input_ok(const Shape& xs) const override {
    const int64_t p = config_.patch_size;
    return xs.size() == 4 && xs[0] >= 1 && xs[1] == config_.in_channels && xs[2] >= p && xs[3] >= p && xs[2] % p == 0 &&
           xs[3] % p == 0;
  }
  int64_t tokens(const Shape& xs) const override { return (xs[2] / config_.patch_size) * (xs[3] / config_.patch_size); }
  int64_t unit_blocks() const override { return 1; }
  bool cfg_uncond_first() const override { return true; }  // the pipeline's cat([negative, prompt])
  // block j < depth/2 - 1 pushes its output; block depth-1-j fuses it (blocks depth/2 - 1 and depth/2 unpaired)
  std::vector<std::pair<int64_t, int64_t>> skip_pairs() const override {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int64_t j = 0; j + 1 < config_.depth / 2; ++j) pairs.push_back({j, config_.depth - 1 - j});
    return pairs;
  }

  std::pair<Tensor, Tensor> rope_tables(const Shape& xs) const override {
    const int64_t p = config_.patch_size, th = xs[2] / p, tw = xs[3] / p, d = config_.head_dim(), a = d / 2;
    // End2End.calc_rope: the token grid resized and centred into the 512-px base grid (base = 512 / 8 / p)
    const double base = double(512 / 8 / p);
    double rh, rw;
    if (double(th) / double(tw) > 1) {
      rh = base;
      rw = double(int64_t(round_half_even(base / double(th) * double(tw))));
    } else {
      rw = base;
      rh = double(int64_t(round_half_even(base / double(tw) * double(th))));
    }
    const double top = round_half_even((base - rh) / 2.0), left = round_half_even((base - rw) / 2.0);
    // numpy.linspace(start, start + size, n, endpoint=False, dtype=float32): float64 i * (size / n) + start
    auto grid = [](double start, double size, int64_t n) {
      std::vector<float> out(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) out[size_t(i)] = static_cast<float>(double(i) * (size / double(n)) + start);
      return out;
    };
    const std::vector<float> gh = grid(top, rh, th), gw = grid(left, rw, tw);
    // theta_k = 1 / 10000 ** (2k / a) in float32, k < a / 2
    std::vector<float> theta(size_t(a / 2));
    for (int64_t k = 0; k < a / 2; ++k)
      theta[size_t(k)] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * k) / static_cast<float>(a));
    Tensor cos = Tensor::host(DType::F32, {th * tw, d}), sin = Tensor::host(DType::F32, {th * tw, d});
    for (int64_t r = 0; r < th; ++r)
      for (int64_t col = 0; col < tw; ++col) {
        float* cr = cos.f32() + (r * tw + col) * d;
        float* sr = sin.f32() + (r * tw + col) * d;
        for (int64_t k = 0; k < a / 2; ++k)
          for (int64_t axis = 0; axis < 2; ++axis) {  // columns [0, a): the width coordinate; [a, d): the height
            const float angle = (axis == 0 ? gw[size_t(col)] : gh[size_t(r)]) * theta[size_t(k)];
            for (int64_t j = 0; j < 2; ++j) {  // repeat_interleave(2)
              cr[axis * a + 2 * k + j] = static_cast<float>(std::cos(double(angle)));
              sr[axis * a + 2 * k + j] = static_cast<float>(std::sin(double(angle)));
            }
          }
      }
    return {cos, sin};
  }

  ForwardResult forward(GraphBuilder& b, const ForwardSpec& s) const override {
    Graph& g = b.g;
    const ModelConfig& c = config_;
    const Shape xs = g.desc(s.x).shape;  // a copy: descriptors move as the graph grows
    const int64_t B = xs[0], L1 = c.text_len, L2 = c.text_len_t5, C1 = c.text_states_dim, C2 = c.text_states_dim_t5;
    SKIPDIT_CHECK(s.text != kNoValue && s.text_t5 != kNoValue && s.text_keep != kNoValue && s.rope_cos != kNoValue,
                  "HunyuanDiT forward without its text inputs or RoPE tables");
    ForwardResult r;

    // text: cat([BERT, mlp_t5(mT5)]) with padded tokens replaced by text_embedding_padding rows (no masks later)
    g.begin_block("mlp_t5");
    const ValueId t5p = mlp_t5_2_(b, silu(g, mlp_t5_0_(b, s.text_t5, DType::F32)), DType::F32);  // (B, L2, C1)
    g.tap("t5_proj");
    const ValueId cat = g.empty({B, L1 + L2, C1}, DType::F32);
    const ValueId cat_rows = g.reshape(cat, {B * (L1 + L2), C1});
    const ValueId bert_rows = g.reshape(s.text, {B * L1, C1}), t5_rows = g.reshape(t5p, {B * L2, C1});
    for (int64_t i = 0; i < B; ++i) {
      const int64_t at = i * (L1 + L2);
      g.add(ops::Copy{}, {g.rows(bert_rows, i * L1, (i + 1) * L1)}, DType::F32, g.rows(cat_rows, at, at + L1));
      g.add(ops::Copy{}, {g.rows(t5_rows, i * L2, (i + 1) * L2)}, DType::F32, g.rows(cat_rows, at + L1, at + L1 + L2));
    }
    const ValueId text = g.add(ops::SelectRows{}, {cat, s.text_keep, b(*text_padding_)});
    g.tap("text_states");

    // AttentionPool over the raw mT5 states (padding included): query = mean token (+ positional row 0)
    g.begin_block("pooler");
    const ValueId seq = g.empty({B, L2 + 1, C2}, DType::F32);
    const ValueId seq_rows = g.reshape(seq, {B * (L2 + 1), C2});
    const ValueId mean_rows = g.reshape(g.add(ops::MeanTokens{}, {s.text_t5}), {B, C2});
    const ValueId raw_rows = g.reshape(s.text_t5, {B * L2, C2});
    for (int64_t i = 0; i < B; ++i) {
      const int64_t at = i * (L2 + 1);
      g.add(ops::Copy{}, {g.rows(mean_rows, i, i + 1)}, DType::F32, g.rows(seq_rows, at, at + 1));
      g.add(ops::Copy{}, {g.rows(raw_rows, i * L2, (i + 1) * L2)}, DType::F32, g.rows(seq_rows, at + 1, at + 1 + L2));
    }
    const ValueId keys = g.add(ops::AddBroadcastRows{}, {seq, b(*pooler_pos_)});  // in place: read keys from now on
    const ValueId key_rows = g.reshape(keys, {B * (L2 + 1), C2});
    const ValueId first = g.empty({B, 1, C2}, DType::F32);
    const ValueId first_rows = g.reshape(first, {B, C2});
    for (int64_t i = 0; i < B; ++i)
      g.add(ops::Copy{}, {g.rows(key_rows, i * (L2 + 1), i * (L2 + 1) + 1)}, DType::F32, g.rows(first_rows, i, i + 1));
    ops::Sdpa pool;
    pool.heads = kPoolerHeads;
    const ValueId pooled_heads = g.add(pool, {pooler_q_(b, first, DType::F32), pooler_k_(b, keys, DType::F32),
                                              pooler_v_(b, keys, DType::F32), kNoValue, kNoValue});
    const ValueId pooled = g.reshape(pooler_c_(b, pooled_heads, DType::F32), {B, kPooledDim});
    g.tap("pooled");

    // c = t_embedder(t) + extra_embedder(pooled) (v1.2: no size / style conditions)
    g.begin_block("t_embedder");
    const ValueId t_emb = t_embedder_(b, s.t);
    g.begin_block("extra_embedder");
    // v1.1: extra_vec = cat([pooled, timestep_embedding(image_meta_size, 256) (6 x 256), style_embedder(0)])
    ValueId extra_in = pooled;
    if (c.size_cond) {
      SKIPDIT_CHECK(s.image_meta != kNoValue, "HunyuanDiT with size_cond without image_meta_size");
      ops::TimestepFrequencies freq;
      freq.dim = TimestepEmbedder::kFrequencyDim;
      const ValueId meta = g.add(freq, {g.reshape(s.image_meta, {B * 6})});
      extra_in = g.add(ops::ConcatColumns{}, {extra_in, g.reshape(meta, {B, 6 * TimestepEmbedder::kFrequencyDim})});
    }
    if (c.style_cond) extra_in = g.add(ops::ConcatColumns{}, {extra_in, repeat_rows(g, b(*style_), B)});  // style 0 for every row
    const ValueId extra = extra_2_(b, silu(g, extra_0_(b, extra_in, DType::F32)), DType::F32);
    g.tap("extra_emb");
    const ValueId cond = g.add(ops::Add{}, {t_emb, extra});
    g.tap("c");
    const ValueId silu_c = silu(g, cond);

    g.begin_block("x_embedder");
    ValueId h = x_embedder_(b, s.x, DType::F32);  // (B, T, D) float32 on every backend, no absolute positions
    g.tap("tokens");

    // blocks with the long skips; Skip-Cache as DiT's (skip blocks k .. depth-k-1, resume at depth-k)
    const int64_t half = c.depth / 2;
    std::vector<ValueId> pushed(size_t(half), kNoValue);
    for (int64_t i = 0; i < c.depth; ++i) {
      if (skip_cache_skips(b, s, i, h)) continue;
      g.begin_block("blocks." + std::to_string(i));
      if (i > half) {
        h = (*blocks_[size_t(i)].skip)(b, h, pushed[size_t(c.depth - 1 - i)], /*float32_stream=*/true);
        g.tap("skip_fused");
      }
      h = blocks_[size_t(i)](b, h, silu_c, text, s.rope_cos, s.rope_sin);
      r.blocks_executed++;
      if (i < half - 1) pushed[size_t(i)] = g.add(ops::Copy{}, {h}, DType::F32);  // the next block updates h in place
      g.tap("blocks_out");
    }
    g.begin_block("final_layer");
    r.out = final_layer_(b, h, silu_c, 1, xs[3] / c.patch_size, /*float32_stream=*/true);  // (B, Cout, h, w)
    g.begin_block("");
    return r;
  }

 private:
  Param* text_padding_;
  LinearLayer mlp_t5_0_, mlp_t5_2_;
  Param* pooler_pos_;
  LinearLayer pooler_k_, pooler_q_, pooler_v_, pooler_c_;
  PatchEmbedder x_embedder_;
  TimestepEmbedder t_embedder_;
  LinearLayer extra_0_, extra_2_;
  FinalLayer final_layer_;
  std::vector<HunyuanBlock> blocks_;
  Param* style_ = nullptr;
};

}  // namespace

std::unique_ptr<Architecture> make_hunyuan_dit(const ModelConfig& c) { return std::make_unique<HunyuanDiT>(c); }

}  // namespace skipdit
