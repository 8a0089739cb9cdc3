// The building blocks of DiT / Latte (class-to-image/models.py, class-to-video/models/latte.py): each holds its
// parameters under their state_dict names and adds its nodes to a graph. A family (dit.cpp, latte.cpp) is a
// small file composing them.
#pragma once
#include <map>
#include <memory>
#include <string>
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
  // The shape the graph sees.
  Shape graph_shape() const { return linear_weight ? Shape{shape[0], shape_numel(shape) / shape[0]} : shape; }
  // Binds `t` (the checkpoint tensor of `shape`, undefined after a binding error): prepared when a linear weight.
  void bind(Tensor t, class Backend& backend);
};

// Every parameter of a model, in declaration order (stable addresses: blocks keep pointers).
class ParamSet {
 public:
  Param& add(std::string name, Shape shape, bool linear_weight = false);
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
  ValueId operator()(GraphBuilder& b, ValueId x) const;
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

// nn.GroupNorm(groups, channels, eps) with affine weight/bias (channels), optionally followed by SiLU.
struct GroupNormLayer {
  Param *weight, *bias;
  int64_t groups;
  float eps;
  GroupNormLayer(ParamSet& ps, const std::string& prefix, int64_t channels, int64_t groups, float eps);
  ValueId operator()(GraphBuilder& b, ValueId x, bool silu) const;
};

// Skip-DiT's long skip fusion: skip_linears[j](skip_norms[j](cat([h, skip], -1))).
struct SkipFusion {
  Param *norm_weight, *norm_bias;
  LinearLayer linear;
  SkipFusion(ParamSet& ps, int64_t j, int64_t hidden);
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId skip) const;
};

// FinalLayer: adaLN shift/scale, linear to p*p*Cout, unpatchify: tokens (G, T, D) -> (G, Cout, H, W) float32.
struct FinalLayer {
  LinearLayer adaLN, linear;
  int64_t patch;
  FinalLayer(ParamSet& ps, const std::string& prefix, int64_t hidden, int64_t patch, int64_t out_channels);
  ValueId operator()(GraphBuilder& b, ValueId h, ValueId silu_c, int64_t group_repeat) const;
};

}  // namespace skipdit
