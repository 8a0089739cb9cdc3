// The Stable Diffusion VAE decoder (diffusers AutoencoderKL.decode, the `decoder.*` and `post_quant_conv.*`
// weights): post_quant_conv -> conv_in -> mid block (resnet, single-head spatial attention, resnet) -> up
// blocks (resnets, nearest 2x + conv except the last) -> GroupNorm + SiLU -> conv_out, recorded as an op graph
// per chunk shape and run in one arena. Weights load from the current diffusers names, the legacy
// attention names (query/key/value/proj_attn) or the original LDM names (optionally `first_stage_model.`
// prefixed); encoder.* and quant_conv.* are ignored.
//
// With VaeConfig::temporal, the Stable Video Diffusion decoder instead (diffusers AutoencoderKLTemporalDecoder.decode,
// the VAE of Skip-DiT's text-to-video sampling): no post_quant_conv; every resnet a SpatioTemporalResBlock
// (ResnetBlock2D `spatial_res_block`, then `temporal_res_block` (GroupNorm over the video's frames, eps 1e-5, Conv3d
// (3, 1, 1)) and the learned `time_mixer` blend); the mid block runs resnets.0, attentions.0, resnets.1 of its
// layers_per_block resnets; after conv_out `time_conv_out`, a Conv3d (3, 1, 1). Everything keeps the per-frame
// layout (B*F, C, h, w): the temporal ops see videos as runs of F consecutive rows (graph/ops/temporal_conv.h,
// group_norm's `frames`, graph/ops/blend.h).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/abort.h"
#include "core/progress.h"
#include "model/model.h"
#include "graph/arena.h"
#include "model/blocks.h"
#include "model/weights.h"

namespace skipdit {

struct VaeConfig {
  int64_t latent_channels = 4;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  bool mid_block_add_attention = true;
  bool temporal = false;  // AutoencoderKLTemporalDecoder (norm_num_groups 32, attention always)
  void validate() const;
};

enum class VaeLayout { Diffusers, DiffusersLegacy, Ldm };
const char* vae_layout_name(VaeLayout layout);

// Presents a VAE checkpoint in any of the three layouts under the current diffusers names.
class VaeWeights final : public WeightSource {
 public:
  VaeWeights(const WeightSource& inner, const VaeConfig& config);
  VaeLayout layout() const { return layout_; }
  // The decoder's names (current diffusers form). names() then lists those present plus every decoder-side
  // tensor of the file that none of them reaches, so the binder reports it as unexpected.
  void set_expected(std::vector<std::string> expected) { expected_ = std::move(expected); }
  std::string describe() const override { return inner_.describe() + " (" + vae_layout_name(layout_) + " names)"; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override;
  Shape shape(const std::string& name) const override;
  Tensor get(const std::string& name) const override;
  void release(const std::string& name) const override;

 private:
  std::string source_name(const std::string& name) const;  // "" when it has no counterpart
  const WeightSource& inner_;
  VaeLayout layout_;
  std::string prefix_;  // "first_stage_model." or ""
  int64_t levels_;
  std::vector<std::string> expected_;
};

class VaeDecoder {
 public:
  // hooks.abort stops the load between tensors; hooks.progress reports each one (core/progress.h).
  VaeDecoder(const VaeConfig& config, std::shared_ptr<Backend> backend, const WeightSource& weights,
             const LoadHooks& hooks = {});
  ~VaeDecoder();
  const VaeConfig& config() const { return config_; }
  VaeLayout layout() const { return layout_; }
  std::mutex& mutex() { return mutex_; }
  size_t weight_bytes() const { return weight_bytes_; }

  // z (B, latent_channels, h, w), already divided by the scaling factor -> image (B, out_channels, h*2^(n-1),
  // w*2^(n-1)), unclamped. Decodes `chunk` images at a time (activation memory is per chunk).
  // `abort` (may be null) is checked between up blocks and between chunks (core/abort.h). `progress` (may be
  // empty) counts blocks: per chunk the mid block (with conv_in), then each up block (the last one with the
  // output conv and the copy out), so total = chunks * (up blocks + 1).
  // Temporal decoder: each chunk of `chunk` rows is one decode(z_chunk, num_frames) call, num_frames = `frames`
  // (the chunk's rows a multiple of it: chunk / frames videos) or, when 0, the chunk's row count (one video: the
  // text-to-video pipeline's chunks). Ignored by the SD decoder.
  Tensor decode(const Tensor& z, int64_t chunk = 1, Taps* taps = nullptr, const std::atomic<bool>* abort = nullptr,
                const ProgressFn& progress = {}, int64_t frames = 0);

 private:
  struct Resnet;
  struct TemporalMix;
  struct SpatialAttention;
  struct UpBlock {
    std::vector<std::unique_ptr<Resnet>> resnets;
    std::unique_ptr<Conv2dLayer> upsample;  // all but the last
  };

  // The decoder's graph for a chunk of latents of this shape (videos of `frames` frames: temporal decoder), recorded
  // on first use.
  Graph& chunk_graph(const Shape& z_shape, int64_t frames);
  static constexpr size_t kArenaRetain = size_t(256) << 20;

  VaeConfig config_;
  std::shared_ptr<Backend> backend_;
  VaeLayout layout_;
  ParamSet params_;  // every parameter, by its current diffusers name
  std::unique_ptr<Conv2dLayer> post_quant_conv_, conv_in_, conv_out_;
  std::vector<std::unique_ptr<Resnet>> mid_;  // resnets 0 and 1 (temporal: layers_per_block of them, 0 and 1 run)
  std::unique_ptr<SpatialAttention> mid_attn_;
  std::vector<UpBlock> up_;
  std::unique_ptr<GroupNormLayer> norm_out_;
  std::unique_ptr<TemporalConvLayer> time_conv_out_;  // temporal decoder
  size_t weight_bytes_ = 0;
  std::map<std::string, std::unique_ptr<Graph>> graphs_;
  std::map<std::string, ValueId> outputs_;
  GraphArena arena_{*backend_, kArenaRetain};  // after backend_
  std::mutex mutex_;
};

}  // namespace skipdit
