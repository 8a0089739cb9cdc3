// Latte / Latte_skip (class-to-video/models/latte.py): spatial and temporal blocks in pairs.
#include "model/family.h"

namespace skipdit {

namespace {

class Latte final : public Architecture {
 public:
  explicit Latte(const ModelConfig& c)
      : Architecture(c),
        pos_embed_(&params_.add("pos_embed", {1, c.tokens(), c.hidden_size})),
        x_embedder_(params_, "x_embedder", c.hidden_size, c.in_channels, c.patch_size),
        t_embedder_(params_, "t_embedder", c.hidden_size),
        temp_embed_(&params_.add("temp_embed", {1, c.num_frames, c.hidden_size})) {
    // (parameters in the order random checkpoints are written: embedders, blocks, skips, final layer)
    if (c.conditional()) y_embedder_ = std::make_unique<LabelEmbedder>(params_, "y_embedder", c.label_rows(), c.hidden_size);
    for (int64_t i = 0; i < c.depth; ++i)
      blocks_.emplace_back(params_, "blocks." + std::to_string(i), c.hidden_size, c.num_heads, c.mlp_hidden());
    // Latte-skip: one long skip per encoder pair (depth / 4)
    for (int64_t j = 0; j < (c.skip ? c.depth / 4 : 0); ++j) skips_.emplace_back(params_, j, c.hidden_size);
    final_layer_ = std::make_unique<FinalLayer>(params_, "final_layer", c.hidden_size, c.patch_size, c.out_channels());
  }

  Shape input_shape(int64_t batch) const override {
    return {batch, config_.num_frames, config_.in_channels, config_.input_size, config_.input_size};
  }
  int64_t frames() const override { return config_.num_frames; }
  int64_t unit_blocks() const override { return 2; }
  // Pairs 0, 2, ... below depth/2 push their output; pair depth/2 + 2j fuses skip (pushed - 1 - j) first.
  std::vector<std::pair<int64_t, int64_t>> skip_pairs() const override {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    const int64_t half = config_.depth / 2, pushed = (half + 1) / 2;
    for (int64_t j = 0; j < int64_t(skips_.size()); ++j) pairs.push_back({2 * (pushed - 1 - j) + 1, half + 2 * j});
    return pairs;
  }

  ForwardResult forward(GraphBuilder& b, const ForwardSpec& s) const override {
    Graph& g = b.g;
    const ModelConfig& c = config_;
    const Shape xs = g.desc(s.x).shape;  // a copy: descriptors move as the graph grows
    const int64_t B = xs[0], F = c.num_frames, half = c.depth / 2;
    ForwardResult r;
    // 'b f c h w -> (b f) c h w', patch embed: h ((b f), T, D)
    g.begin_block("x_embedder");
    const ValueId frames = g.reshape(s.x, {B * F, c.in_channels, c.input_size, c.input_size});
    ValueId h = g.add(ops::AddBroadcastRows{}, {x_embedder_(b, frames), b(*pos_embed_)});
    g.tap("tokens");
    // (B, D): spatial rows repeat F times, temporal rows T times
    const ValueId silu_c = adaln_conditioning(b, t_embedder_, y_embedder_.get(), s.t, s.y);

    // Skip-Cache works on pairs: a cached call skips pairs 2k .. depth-2k-1 and resumes at pair depth-2k.
    const int64_t pushed_count = (half + 1) / 2;  // pairs that push a skip
    std::vector<ValueId> pushed(pushed_count, kNoValue);
    ops::SwapTokenAxes swap;
    swap.batch = B;
    for (int64_t i = 0; i < c.depth; i += 2) {
      if (skip_cache_skips(b, s, i, h)) continue;
      g.begin_block("blocks." + std::to_string(i));
      if (c.skip && i >= half) {
        const int64_t j = (i - half) / 2;  // official: (i - 14) // 2, i.e. depth 28
        g.begin_block("skip_linears." + std::to_string(j));
        h = skips_[j](b, h, pushed[pushed_count - 1 - j]);
        g.tap("skip_fused");
        g.begin_block("blocks." + std::to_string(i));
      }
      h = blocks_[i](b, h, silu_c, F);
      g.tap("spatial_out");
      g.begin_block("blocks." + std::to_string(i + 1));
      ValueId ht = g.add(swap, {h}, g.desc(h).dtype);  // '(b f) t d -> (b t) f d'
      if (i == 0) ht = g.add(ops::AddBroadcastRows{}, {ht, b(*temp_embed_)});
      ht = blocks_[i + 1](b, ht, silu_c, c.tokens());
      r.blocks_executed += 2;
      g.tap("temporal_out");
      h = g.add(swap, {ht}, g.desc(ht).dtype);  // '(b t) f d -> (b f) t d'
      if (c.skip && i < half) pushed[i / 2] = g.add(ops::Copy{}, {h}, g.desc(h).dtype);
    }
    g.begin_block("final_layer");
    const ValueId out = (*final_layer_)(b, h, silu_c, F);  // ((b f), Cout, H, W)
    g.begin_block("");
    r.out = g.reshape(out, {B, F, c.out_channels(), c.input_size, c.input_size});
    return r;
  }

 private:
  Param* pos_embed_;
  PatchEmbedder x_embedder_;
  TimestepEmbedder t_embedder_;
  Param* temp_embed_;
  std::unique_ptr<LabelEmbedder> y_embedder_;
  std::vector<AdaLNBlock> blocks_;
  std::vector<SkipFusion> skips_;
  std::unique_ptr<FinalLayer> final_layer_;
};

}  // namespace

std::unique_ptr<Architecture> make_latte(const ModelConfig& c) { return std::make_unique<Latte>(c); }

}  // namespace skipdit
