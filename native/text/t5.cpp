// T5 v1.1 / mT5 encoder (transformers' T5EncoderModel / MT5EncoderModel, models/t5/modeling_t5.py v4.39):
//   h = shared[ids]                                             (no sqrt(d_model) scaling)
//   pb = relative_attention_bias[bucket(j - i)]  (1, H, L, L)   computed once, by block 0's table, for every block
//   per block: h += o(attn(RMS(h)))  with scores q k^T + pb + (1 - m) * finfo.min (no 1/sqrt(d_kv) scaling)
//              h += wo(gelu_new(wi_0(RMS(h))) * wi_1(RMS(h)))  (feed_forward_proj "gated-gelu")
//   last_hidden_state = RMS(h, final_layer_norm)
// The embedding is tied: a safetensors file names it `shared.weight` only, a torch state dict also
// `encoder.embed_tokens.weight`; a full T5ForConditionalGeneration file also holds decoder.* and lm_head.*, ignored.
// Under float16 weights `wo` stays float32, as transformers' _keep_in_fp32_modules = ["wo"] keeps it.
#include "text/text_blocks.h"
#include "text/text_encoder.h"

namespace skipdit {

namespace {

// T5Block: layer.0 (T5LayerSelfAttention) and layer.1 (T5LayerFF, gated-gelu).
struct T5Block {
  RmsNormLayer attn_norm;
  SelfAttention attn;
  RmsNormLayer ff_norm;
  LinearLayer wi_0, wi_1, wo;

  T5Block(ParamSet& ps, const std::string& p, const TextEncoderConfig& c, Precision precision)
      : attn_norm(ps, p + ".layer.0.layer_norm.weight", c.hidden_size, float(c.eps)),
        attn(ps, {p + ".layer.0.SelfAttention.q", p + ".layer.0.SelfAttention.k", p + ".layer.0.SelfAttention.v",
                  p + ".layer.0.SelfAttention.o"},
             c.hidden_size, c.num_heads, c.head_dim, /*with_bias=*/false, /*scale=*/1.0f),
        ff_norm(ps, p + ".layer.1.layer_norm.weight", c.hidden_size, float(c.eps)),
        wi_0(ps, p + ".layer.1.DenseReluDense.wi_0", c.ff_size, c.hidden_size, false),
        wi_1(ps, p + ".layer.1.DenseReluDense.wi_1", c.ff_size, c.hidden_size, false),
        wo(ps, p + ".layer.1.DenseReluDense.wo", c.hidden_size, c.ff_size, false) {
    wo.weight->keep_f32 = precision == Precision::F16;
  }

  // h (B, L, D) updated in place: the two residual branches.
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId position_bias, ValueId mask) const {
    Graph& g = b.g;
    h = g.add(ops::Add{}, {h, attn(b, attn_norm(b, h), position_bias, mask)});
    g.tap("attn_residual");
    const ValueId n = ff_norm(b, h);
    const ValueId gated = g.add(ops::GatedGelu{}, {wi_0(b, n, DType::F32), wi_1(b, n, DType::F32)});
    h = g.add(ops::Add{}, {h, wo(b, gated, DType::F32)});
    g.tap("layer_out");
    return h;
  }
};

class T5Encoder final : public TextEncoderFamily {
 public:
  T5Encoder(const TextEncoderConfig& c, Precision precision)
      : config_(c),
        shared_(params_, "shared.weight", c.vocab_size, c.hidden_size),
        relative_bias_(&params_.add("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                    {c.relative_buckets, c.num_heads})),
        final_norm_(params_, "encoder.final_layer_norm.weight", c.hidden_size, float(c.eps)) {
    for (int64_t i = 0; i < c.num_layers; ++i)
      blocks_.push_back(std::make_unique<T5Block>(params_, "encoder.block." + std::to_string(i), c, precision));
  }

  ValueId forward(GraphBuilder& b, ValueId ids, ValueId mask) const override {
    Graph& g = b.g;
    const int64_t L = g.desc(ids).dim(1);
    g.begin_block("embed_tokens");
    ValueId h = shared_(b, ids);
    g.tap("embedding");
    ops::RelativePositionBias bias;
    bias.q_len = bias.k_len = L;
    bias.num_buckets = config_.relative_buckets;
    bias.max_distance = config_.relative_max_distance;
    bias.bidirectional = true;
    const ValueId position_bias = g.add(bias, {b(*relative_bias_)});
    g.tap("position_bias");
    for (size_t i = 0; i < blocks_.size(); ++i) {
      g.begin_block("block." + std::to_string(i));
      h = (*blocks_[i])(b, h, position_bias, mask);
    }
    g.begin_block("final_layer_norm");
    return final_norm_(b, h);
  }

  WeightNaming naming() const override {
    WeightNaming n;
    n.aliases = {{"shared.weight", "encoder.embed_tokens.weight"}};
    n.ignored_prefixes = {"decoder.", "lm_head."};
    return n;
  }

 private:
  TextEncoderConfig config_;
  EmbeddingTable shared_;
  Param* relative_bias_;
  std::vector<std::unique_ptr<T5Block>> blocks_;
  RmsNormLayer final_norm_;
};

}  // namespace

std::unique_ptr<TextEncoderFamily> make_t5_encoder(const TextEncoderConfig& config, Precision precision) {
  return std::make_unique<T5Encoder>(config, precision);
}

}  // namespace skipdit
