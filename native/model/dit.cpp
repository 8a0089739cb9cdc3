// DiT / DiT_skip (class-to-image/models.py).
#include "model/family.h"

namespace skipdit {

namespace {

class DiT final : public Architecture {
 public:
  explicit DiT(const ModelConfig& c)
      : Architecture(c),
        pos_embed_(&params_.add("pos_embed", {1, c.tokens(), c.hidden_size})),
        x_embedder_(params_, "x_embedder", c.hidden_size, c.in_channels, c.patch_size),
        t_embedder_(params_, "t_embedder", c.hidden_size) {
    // (parameters in the order random checkpoints are written: embedders, blocks, skips, final layer)
    if (c.conditional()) y_embedder_ = std::make_unique<LabelEmbedder>(params_, "y_embedder", c.label_rows(), c.hidden_size);
    for (int64_t i = 0; i < c.depth; ++i)
      blocks_.emplace_back(params_, "blocks." + std::to_string(i), c.hidden_size, c.num_heads, c.mlp_hidden());
    // Skip-DiT: one long skip per encoder block (depth / 2)
    for (int64_t j = 0; j < (c.skip ? c.depth / 2 : 0); ++j) skips_.emplace_back(params_, j, c.hidden_size);
    final_layer_ = std::make_unique<FinalLayer>(params_, "final_layer", c.hidden_size, c.patch_size, c.out_channels());
  }

  Shape input_shape(int64_t batch) const override {
    return {batch, config_.in_channels, config_.input_size, config_.input_size};
  }
  int64_t unit_blocks() const override { return 1; }
  // Skip-DiT: block i < depth/2 pushes its output; block depth-1-i pops it before running.
  std::vector<std::pair<int64_t, int64_t>> skip_pairs() const override {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int64_t i = 0; i < int64_t(skips_.size()); ++i) pairs.push_back({i, config_.depth - 1 - i});
    return pairs;
  }

  ForwardResult forward(GraphBuilder& b, const ForwardSpec& s) const override {
    Graph& g = b.g;
    const ModelConfig& c = config_;
    const int64_t half = c.depth / 2;
    ForwardResult r;
    g.begin_block("x_embedder");
    ValueId h = g.add(ops::AddBroadcastRows{}, {x_embedder_(b, s.x), b(*pos_embed_)});  // (B, T, D)
    g.tap("tokens");
    const ValueId silu_c = adaln_conditioning(b, t_embedder_, y_embedder_.get(), s.t, s.y);

    // Skip-Cache: a cached call skips blocks k .. depth-k-1 (no push, no pop) and resumes at block depth-k from
    // the feature of the last full call; its skip partner is block k-1, which did run.
    std::vector<ValueId> pushed(half, kNoValue);
    for (int64_t i = 0; i < c.depth; ++i) {
      if (skip_cache_skips(b, s, i, h)) continue;
      g.begin_block("blocks." + std::to_string(i));
      if (c.skip && i >= half) {
        const int64_t j = i - half;
        g.begin_block("skip_linears." + std::to_string(j));
        h = skips_[j](b, h, pushed[half - 1 - j]);
        g.tap("skip_fused");
        g.begin_block("blocks." + std::to_string(i));
      }
      h = blocks_[i](b, h, silu_c, 1);
      r.blocks_executed++;
      if (c.skip && i < half) pushed[i] = g.add(ops::Copy{}, {h}, g.desc(h).dtype);  // the next block updates h in place
      g.tap("blocks_out");
    }
    g.begin_block("final_layer");
    r.out = (*final_layer_)(b, h, silu_c, 1);  // (B, Cout, H, W)
    g.begin_block("");
    return r;
  }

 private:
  Param* pos_embed_;
  PatchEmbedder x_embedder_;
  TimestepEmbedder t_embedder_;
  std::unique_ptr<LabelEmbedder> y_embedder_;
  std::vector<AdaLNBlock> blocks_;
  std::vector<SkipFusion> skips_;
  std::unique_ptr<FinalLayer> final_layer_;
};

}  // namespace

std::unique_ptr<Architecture> make_dit(const ModelConfig& c) { return std::make_unique<DiT>(c); }

}  // namespace skipdit
