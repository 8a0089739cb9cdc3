// BERT encoder without pooler (transformers' BertModel(config, add_pooling_layer=False), models/bert/modeling_bert.py
// v4.39; Hunyuan-DiT's "clip_text_encoder"):
//   h = LayerNorm((word[ids] + token_type[0]) + position[0..L))    (token_type_ids all 0, positions 0..L-1 per row)
//   per layer (post-LN): h = LayerNorm(h + o(attn(h)))  with scores q k^T / sqrt(dh) + (1 - m) * finfo.min
//                        h = LayerNorm(h + out(gelu_erf(intermediate(h))))
//   last_hidden_state = h (no final norm)
// Checkpoints may prefix everything with "bert." (BertFor* heads) and carry pooler.*, cls.* and the
// embeddings.position_ids buffer: ignored.
#include "text/text_blocks.h"
#include "text/text_encoder.h"

namespace skipdit {

namespace {

// BertLayer: BertAttention (self + output dense + LayerNorm), BertIntermediate, BertOutput.
struct BertLayer {
  SelfAttention attn;
  AffineLayerNorm attn_norm;
  LinearLayer intermediate, output;
  AffineLayerNorm out_norm;

  BertLayer(ParamSet& ps, const std::string& p, const TextEncoderConfig& c)
      : attn(ps, {p + ".attention.self.query", p + ".attention.self.key", p + ".attention.self.value",
                  p + ".attention.output.dense"},
             c.hidden_size, c.num_heads, c.head_dim, /*with_bias=*/true, /*scale=*/0.0f),
        attn_norm(ps, p + ".attention.output.LayerNorm", c.hidden_size, float(c.eps)),
        intermediate(ps, p + ".intermediate.dense", c.ff_size, c.hidden_size),
        output(ps, p + ".output.dense", c.hidden_size, c.ff_size),
        out_norm(ps, p + ".output.LayerNorm", c.hidden_size, float(c.eps)) {}

  ValueId operator()(GraphBuilder& b, ValueId h, ValueId mask) const {
    Graph& g = b.g;
    // LayerNorm(dense(context) + input): the add runs in place on the projection (float32 addition commutes)
    ValueId x = g.add(ops::Add{}, {attn(b, h, kNoValue, mask), h});
    h = attn_norm(b, x);
    const ValueId hidden = g.add(ops::GeluErf{}, {intermediate(b, h, DType::F32)});
    x = g.add(ops::Add{}, {output(b, hidden, DType::F32), h});
    h = out_norm(b, x);
    g.tap("layer_out");
    return h;
  }
};

class BertEncoder final : public TextEncoderFamily {
 public:
  explicit BertEncoder(const TextEncoderConfig& c)
      : word_(params_, "embeddings.word_embeddings.weight", c.vocab_size, c.hidden_size),
        position_(&params_.add("embeddings.position_embeddings.weight", {c.max_positions, c.hidden_size})),
        token_type_(&params_.add("embeddings.token_type_embeddings.weight", {c.type_vocab_size, c.hidden_size})),
        embed_norm_(params_, "embeddings.LayerNorm", c.hidden_size, float(c.eps)) {
    for (int64_t i = 0; i < c.num_layers; ++i)
      layers_.push_back(std::make_unique<BertLayer>(params_, "encoder.layer." + std::to_string(i), c));
  }

  ValueId forward(GraphBuilder& b, ValueId ids, ValueId mask) const override {
    Graph& g = b.g;
    const int64_t B = g.desc(ids).dim(0), L = g.desc(ids).dim(1), D = g.desc(b(*word_.table)).dim(1);
    g.begin_block("embeddings");
    ValueId e = word_(b, ids);  // (B, L, D)
    // + token_type_embeddings[0] on every token: the row broadcast over (B * L, 1, D)
    e = g.add(ops::AddBroadcastRows{}, {g.reshape(e, {B * L, 1, D}), g.rows(b(*token_type_), 0, 1)});
    // + position_embeddings[0..L) on every row
    e = g.add(ops::AddBroadcastRows{}, {g.reshape(e, {B, L, D}), g.rows(b(*position_), 0, L)});
    ValueId h = embed_norm_(b, e);
    g.tap("embedding");
    for (size_t i = 0; i < layers_.size(); ++i) {
      g.begin_block("layer." + std::to_string(i));
      h = (*layers_[i])(b, h, mask);
    }
    return h;
  }

  WeightNaming naming() const override {
    WeightNaming n;
    n.ignored_prefixes = {"pooler.", "cls."};
    n.ignored_names = {"embeddings.position_ids"};
    n.optional_prefix = "bert.";
    return n;
  }

 private:
  EmbeddingTable word_;
  Param *position_, *token_type_;
  AffineLayerNorm embed_norm_;
  std::vector<std::unique_ptr<BertLayer>> layers_;
};

}  // namespace

std::unique_ptr<TextEncoderFamily> make_bert_encoder(const TextEncoderConfig& config, Precision) {
  return std::make_unique<BertEncoder>(config);
}

}  // namespace skipdit
