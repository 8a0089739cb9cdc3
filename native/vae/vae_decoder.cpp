#include "vae/vae_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>


namespace skipdit {

namespace {
constexpr float kNormEps = 1e-6f;
constexpr float kTemporalEps = 1e-5f;  // TemporalResnetBlock's GroupNorms (temporal_eps)

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
std::string replace_prefix(const std::string& s, const std::string& from, const std::string& to) {
  return starts_with(s, from) ? to + s.substr(from.size()) : "";
}
}  // namespace

void VaeConfig::validate() const {
  auto bad = [](const std::string& f, const std::string& e, int64_t got) {
    fail(ErrorKind::InvalidArgument, "Expected " + e + " for vae config." + f + " but received " + std::to_string(got));
  };
  if (latent_channels < 1) bad("latent_channels", "a positive integer", latent_channels);
  if (out_channels < 1) bad("out_channels", "a positive integer", out_channels);
  if (block_out_channels.empty() || block_out_channels.size() > 8) bad("block_out_channels", "1 to 8 levels", block_out_channels.size());
  if (layers_per_block < 1) bad("layers_per_block", "a positive integer", layers_per_block);
  if (norm_num_groups < 1) bad("norm_num_groups", "a positive integer", norm_num_groups);
  for (int64_t c : block_out_channels)
    if (c < 1 || c % norm_num_groups) bad("block_out_channels", "multiples of norm_num_groups " + std::to_string(norm_num_groups), c);
  // AutoencoderKLTemporalDecoder hard-codes 32 groups everywhere and always has the mid-block attention.
  if (temporal && norm_num_groups != 32) bad("norm_num_groups", "32 (the temporal decoder's GroupNorms)", norm_num_groups);
  if (temporal && !mid_block_add_attention) bad("mid_block_add_attention", "1 (the temporal decoder's mid block)", 0);
}

const char* vae_layout_name(VaeLayout layout) {
  switch (layout) {
    case VaeLayout::Diffusers: return "diffusers";
    case VaeLayout::DiffusersLegacy: return "legacy diffusers";
    case VaeLayout::Ldm: return "LDM";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------- names
VaeWeights::VaeWeights(const WeightSource& inner, const VaeConfig& config)
    : inner_(inner), levels_(static_cast<int64_t>(config.block_out_channels.size())) {
  if (inner.has("decoder.mid.attn_1.q.weight") || inner.has("decoder.mid.block_1.conv1.weight")) {
    layout_ = VaeLayout::Ldm;
  } else if (inner.has("first_stage_model.decoder.mid.block_1.conv1.weight")) {
    layout_ = VaeLayout::Ldm;
    prefix_ = "first_stage_model.";
  } else if (inner.has("decoder.mid_block.attentions.0.query.weight")) {
    layout_ = VaeLayout::DiffusersLegacy;
  } else {
    layout_ = VaeLayout::Diffusers;
  }
}

std::string VaeWeights::source_name(const std::string& name) const {
  if (layout_ == VaeLayout::Diffusers) return name;
  if (layout_ == VaeLayout::DiffusersLegacy) {
    static const std::pair<const char*, const char*> attn[] = {
        {".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}};
    for (auto& [now, old] : attn) {
      const size_t at = name.find(now);
      if (at != std::string::npos && name.find("attentions.") != std::string::npos)
        return name.substr(0, at) + old + name.substr(at + std::strlen(now));
    }
    return name;
  }
  // LDM: decoder.mid.block_1/attn_1/block_2, decoder.up.{n-1-i}.block.{j} / .upsample, norm_out, nin_shortcut
  std::string n = name;
  auto sub = [&](const std::string& from, const std::string& to) {
    const size_t at = n.find(from);
    if (at != std::string::npos) n = n.substr(0, at) + to + n.substr(at + from.size());
  };
  if (starts_with(n, "decoder.mid_block.resnets.0.")) n = replace_prefix(n, "decoder.mid_block.resnets.0.", "decoder.mid.block_1.");
  else if (starts_with(n, "decoder.mid_block.resnets.1.")) n = replace_prefix(n, "decoder.mid_block.resnets.1.", "decoder.mid.block_2.");
  else if (starts_with(n, "decoder.mid_block.attentions.0.")) {
    n = replace_prefix(n, "decoder.mid_block.attentions.0.", "decoder.mid.attn_1.");
    sub(".group_norm.", ".norm.");
    sub(".to_q.", ".q.");
    sub(".to_k.", ".k.");
    sub(".to_v.", ".v.");
    sub(".to_out.0.", ".proj_out.");
  } else if (starts_with(n, "decoder.up_blocks.")) {
    const size_t dot = n.find('.', 18);
    const int64_t i = std::stoll(n.substr(18, dot - 18));
    const std::string rest = n.substr(dot + 1);
    const std::string level = "decoder.up." + std::to_string(levels_ - 1 - i) + ".";
    if (starts_with(rest, "resnets.")) n = level + "block." + rest.substr(8);
    else if (starts_with(rest, "upsamplers.0.conv.")) n = level + "upsample.conv." + rest.substr(18);
    sub(".conv_shortcut.", ".nin_shortcut.");
  } else if (starts_with(n, "decoder.conv_norm_out.")) {
    n = replace_prefix(n, "decoder.conv_norm_out.", "decoder.norm_out.");
  }
  return prefix_ + n;
}

std::vector<std::string> VaeWeights::names() const {
  std::vector<std::string> out;
  std::set<std::string> reached;
  for (auto& e : expected_) {
    reached.insert(source_name(e));
    if (has(e)) out.push_back(e);
  }
  // Only the decoder side counts: encoder.* and quant_conv.* of a full AutoencoderKL file are ignored.
  for (auto& n : inner_.names()) {
    const std::string bare = starts_with(n, prefix_) ? n.substr(prefix_.size()) : n;
    if ((starts_with(bare, "decoder.") || starts_with(bare, "post_quant_conv.")) && !reached.count(n)) out.push_back(n);
  }
  return out;
}

bool VaeWeights::has(const std::string& name) const { return inner_.has(source_name(name)); }

Shape VaeWeights::shape(const std::string& name) const {
  Shape s = inner_.shape(source_name(name));
  // LDM attention projections are 1x1 convs [C, C, 1, 1]; diffusers stores Linear [C, C].
  if (layout_ == VaeLayout::Ldm && name.find("attentions.0.to_") != std::string::npos && s.size() == 4) s.resize(2);
  return s;
}

Tensor VaeWeights::get(const std::string& name) const {
  Tensor t = inner_.get(source_name(name));
  return t.reshape(shape(name));
}

void VaeWeights::release(const std::string& name) const { inner_.release(source_name(name)); }

// ---------------------------------------------------------------------------------------------- blocks
// The temporal half of SVD's SpatioTemporalResBlock, on s (N, C, h, w) = the spatial output, videos of `frames`
// rows: t = s + conv2(silu(norm2(conv1(silu(norm1(s)))))) (temporal_res_block: 5-D GroupNorms over each video's
// frames, eps 1e-5; Conv3d (3, 1, 1), zero padding at the video's ends), then time_mixer (AlphaBlender "learned",
// switch_spatial_to_temporal_mix): w = 1 - sigmoid(mix_factor), out = w * s + (1 - w) * t, in float32 as written.
struct VaeDecoder::TemporalMix {
  GroupNormLayer norm1;
  TemporalConvLayer conv1;
  GroupNormLayer norm2;
  TemporalConvLayer conv2;
  Param* mix_factor;  // (1)
  float spatial_weight = 0.0f, temporal_weight = 0.0f;  // from mix_factor by load_mix()
  TemporalMix(ParamSet& ps, const std::string& p, int64_t C, int64_t groups)
      : norm1(ps, p + ".temporal_res_block.norm1", C, groups, kTemporalEps),
        conv1(ps, p + ".temporal_res_block.conv1", C, C),
        norm2(ps, p + ".temporal_res_block.norm2", C, groups, kTemporalEps),
        conv2(ps, p + ".temporal_res_block.conv2", C, C),
        mix_factor(&ps.add(p + ".time_mixer.mix_factor", {1})) {}
  // The blend weights, once, from the loaded factor: torch's float32 sigmoid, `1.0 - alpha`, then `1.0 - w`
  // (not sigmoid(m) itself: 1 - (1 - a) can differ from a in float32).
  void load_mix(Backend& be) {
    if (!mix_factor->tensor.defined()) return;  // a binding error, reported by the binder
    float m = 0.0f;
    be.download(mix_factor->tensor, &m);
    const float alpha = 1.0f / (1.0f + std::exp(-m));
    spatial_weight = 1.0f - alpha;
    temporal_weight = 1.0f - spatial_weight;
  }
  ValueId operator()(GraphBuilder& b, ValueId s, int64_t frames, const std::string& tap) const {
    ValueId h = conv1(b, norm1(b, s, true, frames), frames);
    h = conv2(b, norm2(b, h, true, frames), frames);
    const ValueId t = b.g.add(ops::Add{}, {h, s});  // s + h, in place on h (s is read again by the blend)
    if (!tap.empty()) b.g.tap(tap + "_temporal");
    ops::Blend mix;
    mix.wa = spatial_weight;
    mix.wb = temporal_weight;
    return b.g.add(mix, {s, t});
  }
};

// diffusers' ResnetBlock2D (temb-free): conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x). Temporal decoder:
// that is the `spatial_res_block` of a SpatioTemporalResBlock, followed by its TemporalMix.
struct VaeDecoder::Resnet {
  GroupNormLayer norm1;
  Conv2dLayer conv1;
  GroupNormLayer norm2;
  Conv2dLayer conv2;
  std::unique_ptr<Conv2dLayer> shortcut;  // conv_shortcut (1x1) when the channel count changes
  std::unique_ptr<TemporalMix> temporal;
  Resnet(ParamSet& ps, const std::string& p, int64_t cin, int64_t cout, int64_t groups, bool spatio_temporal = false)
      : norm1(ps, spatial(p, spatio_temporal) + ".norm1", cin, groups, kNormEps),
        conv1(ps, spatial(p, spatio_temporal) + ".conv1", cout, cin, 3),
        norm2(ps, spatial(p, spatio_temporal) + ".norm2", cout, groups, kNormEps),
        conv2(ps, spatial(p, spatio_temporal) + ".conv2", cout, cout, 3) {
    if (cin != cout) shortcut = std::make_unique<Conv2dLayer>(ps, spatial(p, spatio_temporal) + ".conv_shortcut", cout, cin, 1);
    if (spatio_temporal) temporal = std::make_unique<TemporalMix>(ps, p, cout, groups);
  }
  // The ResnetBlock2D's prefix: SpatioTemporalResBlock holds it as `spatial_res_block`.
  static std::string spatial(const std::string& p, bool spatio_temporal) { return spatio_temporal ? p + ".spatial_res_block" : p; }
  // frames: the videos' length (temporal); tap: a name for the spatial and temporal outputs, or "".
  ValueId operator()(GraphBuilder& b, ValueId x, int64_t frames = 1, const std::string& tap = "") const {
    ValueId h = conv1(b, norm1(b, x, true));
    h = conv2(b, norm2(b, h, true));
    const ValueId skip = shortcut ? (*shortcut)(b, x) : x;
    const ValueId s = b.g.add(ops::Add{}, {h, skip});  // (shortcut(x) + h) / output_scale_factor, which is 1
    if (!temporal) return s;
    if (!tap.empty()) b.g.tap(tap + "_spatial");
    return (*temporal)(b, s, frames, tap);
  }

};

// The mid block's single-head spatial attention (diffusers Attention with group_norm, residual). q, k and v are
// fused into one [3C, C] projection after loading, so the attention op reads [q | k | v] per token.
struct VaeDecoder::SpatialAttention {
  GroupNormLayer norm;
  Param *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  LinearLayer to_out;
  Tensor qkv_w, qkv_b;  // fused by fuse()
  SpatialAttention(ParamSet& ps, const std::string& p, int64_t C, int64_t groups)
      : norm(ps, p + ".group_norm", C, groups, kNormEps),
        q_w(&ps.add(p + ".to_q.weight", {C, C})), q_b(&ps.add(p + ".to_q.bias", {C})),
        k_w(&ps.add(p + ".to_k.weight", {C, C})), k_b(&ps.add(p + ".to_k.bias", {C})),
        v_w(&ps.add(p + ".to_v.weight", {C, C})), v_b(&ps.add(p + ".to_v.bias", {C})),
        to_out(ps, p + ".to_out.0", C, C) {}
  // Builds the fused projection from the loaded q, k, v (and drops them).
  void fuse(Backend& be) {
    Param* parts[2][3] = {{q_w, k_w, v_w}, {q_b, k_b, v_b}};
    for (auto& row : parts)
      for (Param* p : row)
        if (!p->tensor.defined()) return;  // a binding error, reported by the binder
    const int64_t C = q_w->shape[0];
    qkv_w = be.empty(DType::F32, {3 * C, C});
    qkv_b = be.empty(DType::F32, {3 * C});
    for (int i = 0; i < 3; ++i) {
      Tensor wi = qkv_w.slice_rows(i * C, (i + 1) * C), bi = qkv_b.slice_rows(i * C, (i + 1) * C);
      be.copy(parts[0][i]->tensor, wi);
      be.copy(parts[1][i]->tensor, bi);
      parts[0][i]->tensor = parts[1][i]->tensor = Tensor();
    }
    qkv_w = be.prepare_linear(qkv_w);
  }
  ValueId operator()(GraphBuilder& b, ValueId x) const {
    Graph& g = b.g;
    const Shape xs = g.desc(x).shape;
    const int64_t B = xs[0], C = xs[1], HW = xs[2] * xs[3];
    const ValueId normed = norm(b, x, false);
    ops::SwapTokenAxes swap;
    swap.batch = B;
    // (B, C, HW) -> (B, HW, C)
    const ValueId tokens = g.reshape(g.add(swap, {g.reshape(normed, {B * C, HW, 1})}), {B, HW, C});
    const ValueId qkv = g.add(ops::Linear{}, {tokens, g.constant(qkv_w, {3 * C, C}), g.constant(qkv_b, {3 * C})});
    ops::Attention attn;
    attn.heads = 1;  // one head of dim C
    const ValueId projected = to_out(b, g.add(attn, {qkv}), DType::F32);
    // (B, HW, C) -> (B, C, HW)
    const ValueId out = g.reshape(g.add(swap, {g.reshape(projected, {B * HW, C, 1})}), xs);
    return g.add(ops::Add{}, {out, x});  // residual, rescale_output_factor 1
  }
};

// ---------------------------------------------------------------------------------------------- decoder
VaeDecoder::VaeDecoder(const VaeConfig& config, std::shared_ptr<Backend> backend, const WeightSource& source,
                       const LoadHooks& hooks)
    : config_(config), backend_(std::move(backend)) {
  config_.validate();
  const VaeConfig& c = config_;
  const int64_t n = static_cast<int64_t>(c.block_out_channels.size()), top = c.block_out_channels.back();
  const int64_t groups = c.norm_num_groups;
  const bool st = c.temporal;
  // AutoencoderKLTemporalDecoder has no post_quant_conv; its MidBlockTemporalDecoder holds layers_per_block resnets.
  if (!st) post_quant_conv_ = std::make_unique<Conv2dLayer>(params_, "post_quant_conv", c.latent_channels, c.latent_channels, 1);
  conv_in_ = std::make_unique<Conv2dLayer>(params_, "decoder.conv_in", top, c.latent_channels, 3);
  const int64_t mid_resnets = st ? c.layers_per_block : 2;
  for (int64_t j = 0; j < mid_resnets; ++j)
    mid_.push_back(std::make_unique<Resnet>(params_, "decoder.mid_block.resnets." + std::to_string(j), top, top, groups, st));
  if (c.mid_block_add_attention)
    mid_attn_ = std::make_unique<SpatialAttention>(params_, "decoder.mid_block.attentions.0", top, groups);
  int64_t prev = top;
  for (int64_t i = 0; i < n; ++i) {
    UpBlock& blk = up_.emplace_back();
    const int64_t ch = c.block_out_channels[n - 1 - i];
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    for (int64_t j = 0; j <= c.layers_per_block; ++j)
      blk.resnets.push_back(std::make_unique<Resnet>(params_, p + ".resnets." + std::to_string(j), j == 0 ? prev : ch, ch, groups, st));
    if (i < n - 1) blk.upsample = std::make_unique<Conv2dLayer>(params_, p + ".upsamplers.0.conv", ch, ch, 3);
    prev = ch;
  }
  norm_out_ = std::make_unique<GroupNormLayer>(params_, "decoder.conv_norm_out", prev, groups, kNormEps);
  conv_out_ = std::make_unique<Conv2dLayer>(params_, "decoder.conv_out", c.out_channels, prev, 3);
  if (st) time_conv_out_ = std::make_unique<TemporalConvLayer>(params_, "decoder.time_conv_out", c.out_channels, c.out_channels);

  // Bind by the current diffusers names; VaeWeights maps them to the file's layout, and anything else of the
  // decoder side in the file is "unexpected".
  VaeWeights renamed(source, config_);
  layout_ = renamed.layout();
  std::vector<std::string> expected;
  for (const auto& p : params_.all()) expected.push_back(p->name);
  renamed.set_expected(expected);
  WeightBinder binder(renamed, *backend_, hooks);
  for (const auto& p : params_.all()) {
    p->bind(binder.take(p->name, p->shape), *backend_);
    weight_bytes_ += shape_numel(p->shape) * sizeof(float);
  }
  binder.finish();
  if (mid_attn_) mid_attn_->fuse(*backend_);
  for (auto& r : mid_)
    if (r->temporal) r->temporal->load_mix(*backend_);
  for (auto& blk : up_)
    for (auto& r : blk.resnets)
      if (r->temporal) r->temporal->load_mix(*backend_);
}

VaeDecoder::~VaeDecoder() = default;

Graph& VaeDecoder::chunk_graph(const Shape& z_shape, int64_t frames) {
  const std::string key = shape_str(z_shape) + "/" + std::to_string(frames);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return *it->second;
  if (graphs_.size() >= 8) graphs_.clear();
  auto graph = std::make_unique<Graph>(backend_.get());
  Graph& g = *graph;
  GraphBuilder b(g);
  ValueId h = g.external(0, z_shape, DType::F32);
  if (post_quant_conv_) {
    h = (*post_quant_conv_)(b, h);
    g.tap("post_quant_conv");
  }
  h = (*conv_in_)(b, h);
  g.tap("conv_in");
  g.begin_block("mid_block");
  h = (*mid_[0])(b, h, frames, "mid_resnet0");
  g.tap("mid_resnet0");
  // diffusers runs resnets.0, then zip(resnets[1:], attentions): with one attention, attentions.0 and resnets.1
  // (a temporal decoder with layers_per_block 1 runs resnets.0 alone; resnets.2+ are loaded, never run).
  if (mid_.size() > 1) {
    if (mid_attn_) {
      h = (*mid_attn_)(b, h);
      g.tap("mid_attn");
    }
    h = (*mid_[1])(b, h, frames);
  }
  g.tap("mid_block");
  for (size_t i = 0; i < up_.size(); ++i) {
    g.begin_block("up_blocks." + std::to_string(i));
    for (auto& r : up_[i].resnets) h = (*r)(b, h, frames);
    g.tap("up_block" + std::to_string(i) + "_resnets");
    if (up_[i].upsample) h = (*up_[i].upsample)(b, g.add(ops::UpsampleNearest2x{}, {h}));
    g.tap("up_block" + std::to_string(i));
  }
  g.begin_block("conv_out");
  const ValueId normed = (*norm_out_)(b, h, true);
  g.tap("norm_out_act");
  h = (*conv_out_)(b, normed);
  if (time_conv_out_) {
    g.tap("conv_out");
    h = (*time_conv_out_)(b, h, frames);
  }
  g.output(h);
  g.finalize();
  outputs_[key] = h;
  return *(graphs_[key] = std::move(graph));
}

Tensor VaeDecoder::decode(const Tensor& z, int64_t chunk, Taps* taps, const std::atomic<bool>* abort,
                          const ProgressFn& progress, int64_t frames) {
  const VaeConfig& c = config_;
  if (z.dtype() != DType::F32 || z.ndim() != 4 || z.dim(1) != c.latent_channels || z.dim(0) < 1 || z.dim(2) < 1 || z.dim(3) < 1)
    fail(ErrorKind::InvalidArgument, "Expected float32 latents (B, " + std::to_string(c.latent_channels) +
                                         ", h, w) for z but received " + z.describe());
  if (chunk < 1) chunk = 1;
  if (c.temporal && frames != 0) {  // every call holds whole videos of num_frames rows
    const int64_t rows = std::min(chunk, z.dim(0));
    if (frames < 0 || rows % frames || z.dim(0) % frames)
      fail(ErrorKind::InvalidArgument, "Expected num_frames dividing the chunk (" + std::to_string(rows) + ") and the frames (" +
                                           std::to_string(z.dim(0)) + ") but received " + std::to_string(frames));
  }
  const int64_t B = z.dim(0), scale = int64_t(1) << (c.block_out_channels.size() - 1);
  Tensor out = Tensor::host(DType::F32, {B, c.out_channels, z.dim(2) * scale, z.dim(3) * scale});
  const int64_t per_image = out.numel() / B;
  // progress counts blocks: per chunk the mid block, each up block but the last, then the rest with the copy out
  const int64_t total = (B + chunk - 1) / chunk * int64_t(up_.size() + 1);
  int64_t done = 0;
  const std::string last_up = "up_block" + std::to_string(up_.size() - 1);
  ComputeHooks hooks;
  hooks.abort = abort;
  if (taps || progress) {
    hooks.tap = [&](const std::string& name, const Tensor& t) {
      if (taps) taps->record(*backend_, name, t);
      const bool block_end = name == "mid_block" || (name.rfind("up_block", 0) == 0 && name.find('_', 8) == std::string::npos);
      if (progress && block_end && name != last_up) progress(++done, total);
    };
  }
  // One arena for every chunk of the call (the intermediates of a chunk share it by liveness); released after a
  // big decode so that an idle VAE holds only its weights, and after a failed one.
  GraphArena::CallScope scope(arena_);
  for (int64_t b0 = 0; b0 < B; b0 += chunk) {
    const int64_t b1 = std::min(B, b0 + chunk);
    check_abort(abort);
    const Tensor part = z.slice_rows(b0, b1);
    const int64_t call_frames = !c.temporal ? 1 : frames > 0 ? frames : b1 - b0;  // temporal: the call's num_frames
    Graph& g = chunk_graph(part.shape(), call_frames);
    GraphBindings bind{arena_.reserve(g.arena_bytes()), {part}};
    backend_->compute(g, bind, hooks);
    backend_->download(g.tensor(outputs_[shape_str(part.shape()) + "/" + std::to_string(call_frames)], bind), out.f32() + b0 * per_image);
    if (progress) progress(++done, total);
  }
  return out;
}

}  // namespace skipdit
