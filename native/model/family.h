// A model family: the blocks of one architecture for one config, and the forward that composes them. Families
// are registered by name (make_architecture); describe() tells everything the rest of skipdit needs to know about
// a config without weights: parameter names and shapes, FLOPs per block, skip pairs, what a cached step runs.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/blocks.h"
#include "model/config.h"

namespace skipdit {

// What one recorded forward reads and which Skip-Cache variant it is.
struct ForwardSpec {
  ValueId x = kNoValue;  // float32 latents in the official layout, batch B (already doubled for CFG)
  ValueId t = kNoValue;  // (B) float32 timesteps
  ValueId y = kNoValue;  // (B) int64 labels, or kNoValue for an unconditional model
  ValueId text = kNoValue;       // LatteT2V: (B, L, caption_channels) float32 text states
  ValueId text_bias = kNoValue;  // LatteT2V: (B*F, 1, 1, L) float32 additive cross-attention mask, or none
  // HunyuanDiT: text = BERT states (B, L1, C1); text_t5 (B, L2, C2); text_keep (B, L1 + L2) float32 0/1, the two
  // tokenizer masks concatenated (padded tokens take learned rows)
  ValueId text_t5 = kNoValue, text_keep = kNoValue;
  ValueId rope_cos = kNoValue, rope_sin = kNoValue;  // (T, head_dim) float32 RoPE tables (rope_tables())
  ValueId image_meta = kNoValue;  // HunyuanDiT v1.1 (size_cond): (B, 6) float32 image_meta_size
  // Skip-Cache: None runs every block. Save runs every block and copies the hidden state entering block
  // `resume` into `feature`; Restore skips blocks [skip_from, resume) and resumes from `feature`.
  // Decide (an adaptive cache) records both: after the shallow units and the probe, alternative 1 runs the middle
  // units and saves the feature, alternative 2 resumes from it (Graph::begin_branch; ComputeHooks::decide picks).
  enum class Cache { None, Save, Restore, Decide } cache = Cache::None;
  int64_t skip_from = 0, resume = 0;
  ValueId feature = kNoValue;
  // With a cache that measures: the hidden state entering block skip_from (the shallow units' output) is copied here.
  ValueId probe = kNoValue;
  // Decide: the hidden state entering the resume block, written by either alternative.
  ValueId resumed = kNoValue;
};

struct ForwardResult {
  ValueId out = kNoValue;       // (B, [F,] Cout, H, W) float32
  int64_t blocks_executed = 0;  // transformer blocks the graph runs
};

class Architecture {
 public:
  explicit Architecture(const ModelConfig& config) : config_(config) {}
  virtual ~Architecture() = default;
  const ModelConfig& config() const { return config_; }
  const ParamSet& params() const { return params_; }
  virtual ForwardResult forward(GraphBuilder& b, const ForwardSpec& spec) const = 0;
  // The latents' official layout at a batch size: DiT (B, C, H, W), Latte (B, F, C, H, W).
  virtual Shape input_shape(int64_t batch) const = 0;
  // Whether x of this shape is a valid input (default: input_shape at its batch).
  virtual bool input_ok(const Shape& xs) const { return !xs.empty() && xs[0] >= 1 && xs == input_shape(xs[0]); }
  // Frames per sample (the token groups of one sample): Latte's F, 1 for images.
  virtual int64_t frames() const { return 1; }
  // The token groups ((b f) rows of the hidden state) of an input x: B·F.
  virtual int64_t token_groups(const Shape& xs) const { return xs[0] * frames(); }
  // Tokens per group of an input x (HunyuanDiT: any latent size).
  virtual int64_t tokens(const Shape&) const { return config_.tokens(); }
  // The 2-D RoPE tables (cos, sin) (T, head_dim) of an input x, host float32; undefined for families without RoPE.
  virtual std::pair<Tensor, Tensor> rope_tables(const Shape&) const { return {}; }
  // Rows per sample in front of the channel axis of x and of the output, as the sampler update and CFG see them
  // ((rows, C, inner)): DiT 1, Latte F ((B, F, C, H, W)), LatteT2V 1 ((B, C, F, H, W)).
  virtual int64_t rows_before_channels() const { return frames(); }
  // The order of a CFG batch: false for [cond, uncond] (the class-conditioned forward_with_cfg), true for
  // [uncond, cond] (the text-to-video pipeline).
  virtual bool cfg_uncond_first() const { return false; }
  // Transformer blocks per Skip-Cache unit: DiT 1 (a block), Latte 2 (a spatial + temporal pair).
  virtual int64_t unit_blocks() const = 0;
  // The long skips: (block whose output is pushed, block that fuses it first).
  virtual std::vector<std::pair<int64_t, int64_t>> skip_pairs() const = 0;

 protected:
  ModelConfig config_;
  ParamSet params_;
};

// The family's architecture for a validated config (the registry, family.cpp).
std::unique_ptr<Architecture> make_architecture(const ModelConfig& config);

// Skip-Cache's resume point, shared by the families: a Save forward copies the hidden state h into the feature
// and goes on with h; a Restore forward goes on from a copy of the feature (the blocks after it update their
// input in place, and the feature must survive for the next cached call).
ValueId resume_from_cache(GraphBuilder& b, const ForwardSpec& spec, ValueId h);

// Skip-Cache at block i (a pair's first block for Latte), before it runs, shared by the families: copies the shallow
// output into the probe at skip_from, resumes from (or saves) the feature at the resume block, and returns whether a
// cached call skips the block.
bool skip_cache_skips(GraphBuilder& b, const ForwardSpec& spec, int64_t i, ValueId& h);

// describe(): a config's structure and costs at a batch size.
struct ModelDescription {
  struct ParamInfo {
    std::string name;
    Shape shape;
    bool linear = false;  // a Linear's weight: what a bfloat16 model stores (and rounds) as bf16
  };
  struct BlockInfo {
    std::string name;
    double flops = 0;
  };
  struct CachedStep {
    int64_t branch = 0;           // k: units kept at each end
    int64_t blocks_executed = 0;
    double flops = 0;
  };
  std::vector<ParamInfo> params;
  std::vector<BlockInfo> blocks;  // in execution order, the full forward's
  std::vector<std::pair<int64_t, int64_t>> skip_pairs;
  int64_t unit_blocks = 1;
  double flops = 0;               // a full forward
  std::vector<CachedStep> cached;  // every valid branch k
};
ModelDescription describe(const ModelConfig& config, int64_t batch);

}  // namespace skipdit
