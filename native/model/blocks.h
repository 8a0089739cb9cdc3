// The building blocks of DiT / Latte (class-to-image/models.py, class-to-video/models/latte.py): each holds its
// parameters under their state_dict names and adds its nodes to a graph. A family (dit.cpp, latte.cpp) is a
// small file composing them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace skipdit {

// One parameter: its official state_dict name and shape, and, once bound, its tensor in the backend's layout
// (linear weights through Backend::prepare_linear, as an (out, in) matrix: a convolution's (cout, cin, k, k)
// weight becomes (cout, cin*k*k)).
struct Param {
  std::string name;
  Shape shape;
  bool linear_weight = false;
  Tensor tensor;
  // A linear weight prepared in float32 whatever the backend's precision (Backend::prepare_linear_f32).
  bool keep_f32 = false;
  // A buffer (not in the state_dict): computed at construction (`value`, float32), uploaded instead of bound.
  bool buffer = false;
  std::vector<float> value;
  // The shape the graph sees.
  Shape graph_shape() const { return linear_weight ? Shape{shape[0], shape_numel(shape) / shape[0]} : shape; }
  // Binds `t` (the checkpoint tensor of `shape`, undefined after a binding error): prepared when a linear weight.
  void bind(Tensor t, class Backend& backend);
};

// Every parameter of a model, in declaration order (stable addresses: blocks keep pointers).
class ParamSet {
 public:
  Param& add(std::string name, Shape shape, bool linear_weight = false);
  // A non-persistent buffer of `shape` holding `value` (never read from a checkpoint, not in describe()).
  Param& add_buffer(std::string name, Shape shape, std::vector<float> value);
  const std::vector<std::unique_ptr<Param>>& all() const { return params_; }

 private:
  std::vector<std::unique_ptr<Param>> params_;
};

// A graph being recorded for one model: parameters become constants once.
class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& graph) : g(graph) {}
  Graph& g;
  ValueId operator()(const Param& p);

 private:
  std::map<const Param*, ValueId> constants_;
};

// nn.Linear(in, out): weight (out, in), bias (out).
struct LinearLayer {
  Param* weight = nullptr;
  Param* bias = nullptr;
  LinearLayer() = default;
  LinearLayer(ParamSet& ps, const std::string& prefix, int64_t out, int64_t in, bool with_bias = true);
  ValueId operator()(GraphBuilder& b, ValueId x, DType out_dtype, Activation act = Activation::None) const;
};

// TimestepEmbedder: mlp.2(silu(mlp.0(frequencies(t)))) -> c (B, D).
struct TimestepEmbedder {
  static constexpr int64_t kFrequencyDim = 256;  // frequency_embedding_size
  LinearLayer mlp0, mlp2;
  TimestepEmbedder(ParamSet& ps, const std::string& prefix, int64_t hidden);
  // diffusers' TimestepEmbedding naming: `first` / `second` are the full prefixes of the two linears.
  TimestepEmbedder(ParamSet& ps, const std::string& first, const std::string& second, int64_t hidden);
  ValueId operator()(GraphBuilder& b, ValueId t) const;
};

// LabelEmbedder's table (num_classes [+1 for the CFG null label], D): y (B) int64 -> (B, D).
struct LabelEmbedder {
  Param* table;
  LabelEmbedder(ParamSet& ps, const std::string& prefix, int64_t rows, int64_t hidden);
  ValueId operator()(GraphBuilder& b, ValueId labels) const;
};

// The adaLN conditioning of DiT and Latte: silu(t_embedder(t) [+ y_embedder(y)]) (B, D), the input of every
// adaLN modulation. y_embedder null: an unconditional model.
ValueId adaln_conditioning(GraphBuilder& b, const TimestepEmbedder& t_embedder, const LabelEmbedder* y_embedder,
                           ValueId t, ValueId y);

// PatchEmbed (Conv2d, kernel = stride = p) + a fixed positional table: x (B, C, H, W) -> tokens (B, T, D).
struct PatchEmbedder {
  Param *weight, *bias;
  PatchEmbedder(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t channels, int64_t patch);
  ValueId operator()(GraphBuilder& b, ValueId x) const;  // tokens in the activation type
  ValueId operator()(GraphBuilder& b, ValueId x, DType out) const;
};

// The adaLN-Zero transformer block (DiTBlock / Latte's TransformerBlock): h (G, N, D) updated in place; silu_c
// (Bc, D) conditions groups of group_repeat consecutive sequences.
struct AdaLNBlock {
  static constexpr float kEps = 1e-6f;
  LinearLayer qkv, proj, fc1, fc2, adaLN;
  int64_t heads;
  AdaLNBlock(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t heads, int64_t mlp_hidden);
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat) const;
};

// nn.Conv2d(cin, cout, k, padding = k / 2) (odd k, stride 1): weight (cout, cin, k, k), bias (cout).
struct Conv2dLayer {
  Param *weight, *bias;
  int64_t k;
  Conv2dLayer(ParamSet& ps, const std::string& prefix, int64_t cout, int64_t cin, int64_t k);
  ValueId operator()(GraphBuilder& b, ValueId x) const;
};

// nn.Conv3d(cin, cout, (kt, 1, 1), padding (kt / 2, 0, 0)) over the frames of the per-frame layout (x (B*F, cin,
// H, W), videos of `frames` consecutive rows): weight (cout, cin, kt, 1, 1), bias (cout). The SVD VAE decoder's
// temporal convolutions.
struct TemporalConvLayer {
  Param *weight, *bias;
  TemporalConvLayer(ParamSet& ps, const std::string& prefix, int64_t cout, int64_t cin, int64_t kt = 3);
  ValueId operator()(GraphBuilder& b, ValueId x, int64_t frames) const;
};

// nn.GroupNorm(groups, channels, eps) with affine weight/bias (channels), optionally followed by SiLU. frames > 1:
// on the per-frame layout of videos of that many frames, statistics over each video's frames (the 5-D GroupNorm).
struct GroupNormLayer {
  Param *weight, *bias;
  int64_t groups;
  float eps;
  GroupNormLayer(ParamSet& ps, const std::string& prefix, int64_t channels, int64_t groups, float eps);
  ValueId operator()(GraphBuilder& b, ValueId x, bool silu, int64_t frames = 1) const;
};

// Skip-DiT's long skip fusion: skip_linears[j](skip_norms[j](cat([h, skip], -1))).
struct SkipFusion {
  Param *norm_weight, *norm_bias;
  LinearLayer linear;
  SkipFusion(ParamSet& ps, int64_t j, int64_t hidden);
  // Other names: `norm` (LayerNorm(2D) weight/bias) and `linear` (D <- 2D) prefixes (Hunyuan-DiT's
  // blocks.{i}.skip_norm / blocks.{i}.skip_linear).
  SkipFusion(ParamSet& ps, const std::string& norm, const std::string& linear, int64_t hidden);
  // float32_stream: h is float32 on every backend (Hunyuan-DiT): the normed concat stays float32 too (the CUDA GEMM
  // reads and writes one type); otherwise it is stored in the backend's operand type.
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId skip, bool float32_stream = false) const;
};

// FinalLayer: adaLN shift/scale, linear to p*p*Cout, unpatchify: tokens (G, T, D) -> (G, Cout, H, W) float32.
struct FinalLayer {
  LinearLayer adaLN, linear;
  int64_t patch;
  FinalLayer(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t patch, int64_t out_channels);
  // grid_w: the token grid's width for a non-square latent (0: square); float32_stream as SkipFusion's.
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat, int64_t grid_w = 0,
                     bool float32_stream = false) const;
};

// ---- LatteT2V (diffusers v0.24 PixArt-style blocks, text-to-video/models/latte_t2v*.py) ----

// x (B, ...) -> (B * repeat, ...): row b * repeat + r = x[b] (einops 'b ... -> (b r) ...'), by row copies.
ValueId repeat_rows(Graph& g, ValueId x, int64_t repeat);

// table (k, D) [None] + cond (B, k*D) -> (B, k*D) float32: the scale_shift_table modulation of adaLN-single.
ValueId table_modulation(GraphBuilder& b, const Param& table, ValueId cond);

// (B, C, F, H, W) <-> (B*F, C, H, W) ('b c f h w -> (b f) c h w' and back), any C.
ValueId channels_frames_to_frames(Graph& g, ValueId x, int64_t batch);
ValueId frames_to_channels_frames(Graph& g, ValueId x, int64_t batch);

// Sinusoidal tables (float64, cast to float32): E(dim, q) = [sin(q w_0..), cos(q w_0..)], w_k = 1/10000^(k/(dim/2)).
// 2-D (diffusers get_2d_sincos_pos_embed, column first): (grid*grid, dim); 1-D: (length, dim).
std::vector<float> sincos_2d(int64_t dim, int64_t grid, int64_t base_size, double interpolation_scale);
std::vector<float> sincos_1d(int64_t dim, int64_t length);

// PixArt-alpha's AdaLayerNormSingle: t6 = linear(silu(emb)) with emb = timestep_embedder(t) (embedded_timestep).
struct AdaLNSingle {
  TimestepEmbedder emb;
  LinearLayer linear;
  AdaLNSingle(ParamSet& ps, const std::string& prefix, int64_t hidden);
  // -> {embedded_timestep (B, D), t6 (B, 6D)}, float32 (taps t_freq, t_emb, t_mod).
  std::pair<ValueId, ValueId> operator()(GraphBuilder& b, ValueId t) const;
};

// PixArtAlphaTextProjection: linear_2(gelu_tanh(linear_1(caption))). y_embedding (null caption, training only)
// is in the state_dict and bound, never read.
struct CaptionProjection {
  Param* y_embedding;
  LinearLayer linear_1, linear_2;
  CaptionProjection(ParamSet& ps, const std::string& prefix, int64_t caption_channels, int64_t hidden,
                    int64_t null_tokens = 120);
  ValueId operator()(GraphBuilder& b, ValueId caption) const;  // (B, L, Cc) f32 -> (B, L, D) (tap caption)
};

// diffusers Attention (bias on every projection, no qk-norm): to_q/to_k/to_v/to_out.0.
struct AttentionLayer {
  LinearLayer to_q, to_k, to_v, to_out;
  int64_t heads;
  AttentionLayer(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t context, int64_t heads);
  // softmax(q k^T / sqrt(dh) [+ bias]) v, heads merged, before to_out: (G, N, D) activations.
  ValueId attend(GraphBuilder& b, ValueId x, ValueId context, ValueId bias) const;
};

// BasicTransformerBlock with norm_type ada_norm_single (no affine norms): modulation m = scale_shift_table + t6
// (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp); h += gate_msa * attn1(LN(h)(1+s)+sh);
// [cross: h += attn2(h, enc) (no norm, no gate)]; h += gate_mlp * ff(LN(h)(1+s)+sh) (ff: GELU-tanh, inner 4D).
struct AdaLNSingleBlock {
  static constexpr float kEps = 1e-6f;
  Param* scale_shift_table;
  AttentionLayer attn1;
  std::unique_ptr<AttentionLayer> attn2;
  Param* unit_gate = nullptr;  // buffer (1, D) of ones: attn2's plain residual as a gated one (any activation type)
  LinearLayer ff0, ff2;
  AdaLNSingleBlock(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t heads, int64_t ff_inner,
                   bool cross, int64_t context);
  // h (G, N, D), t6 (G / group_repeat, 6D); enc (G, L, D) and its bias (G, 1, 1, L) or kNoValue with cross.
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId t6, int64_t group_repeat, ValueId enc, ValueId enc_bias) const;
};

}  // namespace skipdit
