// LatteT2V / LatteT2V_skip (Skip-DiT text-to-video/models/latte_t2v*.py on diffusers v0.24 modules): x (B, C, F, H, W),
// adaLN-single timestep conditioning, a PixArt caption projection, spatial blocks with cross-attention to the
// caption and temporal blocks, in pairs; long skips between pairs (see the fixture README for the exact math).
//
// Depth: config.depth counts blocks (2 x num_layers). The official forward hard-codes the skip pairing of
// num_layers = 28 (`i >= 14`, `skip_linears[i - 14]`, `i < 14`); here the literal is num_layers / 2, which is the
// official code at 28 and its evident generalisation elsewhere (the unmodified official code fuses only pairs
// 14.. below 28 layers and fails above).
#include "model/family.h"

namespace skipdit {

namespace {

class LatteT2V final : public Architecture {
 public:
  explicit LatteT2V(const ModelConfig& c)
      : Architecture(c),
        final_table_(&params_.add("scale_shift_table", {2, c.hidden_size})),
        patch_(params_, "pos_embed", c.hidden_size, c.in_channels, c.patch_size) {
    const int64_t D = c.hidden_size, layers = c.depth / 2;
    // interpolation_scale = max(sample_size // 64, 1), base_size = sample_size / p: the latent is sample_size wide
    pos_embed_ = &params_.add_buffer("pos_embed.pos_embed", {1, c.tokens(), D},
                                     sincos_2d(D, c.grid(), c.grid(), double(std::max<int64_t>(c.input_size / 64, 1))));
    temp_pos_embed_ = &params_.add_buffer("temp_pos_embed", {1, c.num_frames, D}, sincos_1d(D, c.num_frames));
    for (int64_t i = 0; i < layers; ++i)
      spatial_.emplace_back(params_, "transformer_blocks." + std::to_string(i), D, c.num_heads, c.mlp_hidden(), true, D);
    for (int64_t i = 0; i < layers; ++i)
      temporal_.emplace_back(params_, "temporal_transformer_blocks." + std::to_string(i), D, c.num_heads, c.mlp_hidden(),
                             false, D);
    for (int64_t j = 0; j < (c.skip ? layers / 2 : 0); ++j) skips_.emplace_back(params_, j, D);
    proj_out_ = std::make_unique<LinearLayer>(params_, "proj_out", c.patch_size * c.patch_size * c.out_channels(), D);
    adaln_ = std::make_unique<AdaLNSingle>(params_, "adaln_single", D);
    caption_ = std::make_unique<CaptionProjection>(params_, "caption_projection", c.caption_channels, D);
  }

  Shape input_shape(int64_t batch) const override {
    return {batch, config_.in_channels, config_.num_frames, config_.input_size, config_.input_size};
  }
  // A single frame (image) also runs: no temporal position embedding then.
  bool input_ok(const Shape& xs) const override {
    if (xs.size() != 5 || xs[0] < 1) return false;
    Shape want = input_shape(xs[0]);
    if (xs[2] == 1) want[2] = 1;
    return xs == want;
  }
  int64_t frames() const override { return config_.num_frames; }
  int64_t token_groups(const Shape& xs) const override { return xs[0] * xs[2]; }  // a single frame runs too
  int64_t rows_before_channels() const override { return 1; }
  bool cfg_uncond_first() const override { return true; }
  int64_t unit_blocks() const override { return 2; }
  // Pair p < half pushes its output (block 2p + 1); pair half + j fuses the skip of pair half - 1 - j first.
  std::vector<std::pair<int64_t, int64_t>> skip_pairs() const override {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    const int64_t half = config_.depth / 4;
    for (int64_t j = 0; j < int64_t(skips_.size()); ++j) pairs.push_back({2 * (half - 1 - j) + 1, 2 * (half + j)});
    return pairs;
  }

  ForwardResult forward(GraphBuilder& b, const ForwardSpec& s) const override {
    Graph& g = b.g;
    const ModelConfig& c = config_;
    const Shape xs = g.desc(s.x).shape;  // a copy: descriptors move as the graph grows
    const int64_t B = xs[0], F = xs[2], T = c.tokens(), layers = c.depth / 2, half = layers / 2;
    SKIPDIT_CHECK(s.text != kNoValue, "LatteT2V forward without text states");
    ForwardResult r;
    // 'b c f h w -> (b f) c h w', patch embed + pos_embed: h ((b f), T, D)
    g.begin_block("pos_embed");
    ValueId h = g.add(ops::AddBroadcastRows{}, {patch_(b, channels_frames_to_frames(g, s.x, B)), b(*pos_embed_)});
    g.tap("tokens");
    g.begin_block("adaln_single");
    const auto [emb, t6] = (*adaln_)(b, s.t);
    g.begin_block("caption_projection");
    // (b f) rows of the caption for the spatial blocks' cross-attention
    const ValueId enc = repeat_rows(g, (*caption_)(b, s.text), F);

    std::vector<ValueId> pushed(size_t(half), kNoValue);
    ops::SwapTokenAxes swap;
    swap.batch = B;
    for (int64_t p = 0; p < layers; ++p) {
      const int64_t i = 2 * p;  // first block of the pair
      if (skip_cache_skips(b, s, i, h)) continue;
      if (c.skip && p >= half) {
        const int64_t j = p - half;  // official: i - 14 (num_layers 28)
        g.begin_block("skip_linears." + std::to_string(j));
        h = skips_[j](b, h, pushed[half - 1 - j]);
        g.tap("skip_fused");
      }
      g.begin_block("transformer_blocks." + std::to_string(p));
      h = spatial_[p](b, h, t6, F, enc, s.text_bias);
      g.tap("spatial_out");
      g.begin_block("temporal_transformer_blocks." + std::to_string(p));
      ValueId ht = g.add(swap, {h}, g.desc(h).dtype);  // '(b f) t d -> (b t) f d'
      if (p == 0 && F > 1) ht = g.add(ops::AddBroadcastRows{}, {ht, b(*temp_pos_embed_)});
      if (p == 0) g.tap("temporal_in0");
      ht = temporal_[p](b, ht, t6, T, kNoValue, kNoValue);
      r.blocks_executed += 2;
      g.tap("temporal_out");
      h = g.add(swap, {ht}, g.desc(ht).dtype);  // '(b t) f d -> (b f) t d'
      if (c.skip && p < half) pushed[p] = g.add(ops::Copy{}, {h}, g.desc(h).dtype);
    }
    // final layer: (scale_shift_table[None] + embedded_timestep[:, None]) -> shift, scale; LN; proj_out; unpatchify
    g.begin_block("proj_out");
    const ValueId mod = table_modulation(b, *final_table_, g.reshape(repeat_rows(g, emb, 2), {B, 2 * c.hidden_size}));
    ops::LayerNormModulate norm;
    norm.eps = AdaLNSingleBlock::kEps;
    norm.group_repeat = F;
    const ValueId tokens = (*proj_out_)(b, g.add(norm, {h, mod}, g.operand_dtype()), g.activation_dtype());
    g.tap("final_tokens");
    ops::Unpatchify unpatchify;
    unpatchify.patch = c.patch_size;
    const ValueId out = g.add(unpatchify, {tokens});  // ((b f), 2C, H, W)
    g.begin_block("");
    r.out = frames_to_channels_frames(g, out, B);
    return r;
  }

 private:
  Param* final_table_;
  PatchEmbedder patch_;
  Param* pos_embed_ = nullptr;
  Param* temp_pos_embed_ = nullptr;
  std::vector<AdaLNSingleBlock> spatial_, temporal_;
  std::vector<SkipFusion> skips_;
  std::unique_ptr<LinearLayer> proj_out_;
  std::unique_ptr<AdaLNSingle> adaln_;
  std::unique_ptr<CaptionProjection> caption_;
};

}  // namespace

std::unique_ptr<Architecture> make_latte_t2v(const ModelConfig& c) { return std::make_unique<LatteT2V>(c); }

}  // namespace skipdit
