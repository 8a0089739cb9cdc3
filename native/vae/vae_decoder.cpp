#include "vae/vae_decoder.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>


namespace skipdit {

namespace {
constexpr float kNormEps = 1e-6f;

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

// ---------------------------------------------------------------------------------------------- decoder
VaeDecoder::VaeDecoder(const VaeConfig& config, std::shared_ptr<Backend> backend, const WeightSource& source,
                       const LoadHooks& hooks)
    : config_(config), backend_(std::move(backend)) {
  config_.validate();
  VaeWeights renamed(source, config_);
  layout_ = renamed.layout();
  // Expected decoder names, built below; anything else of the decoder side in the file is "unexpected".
  std::vector<std::string> expected;
  auto note = [&](const std::string& n) { expected.push_back(n); return n; };
  std::vector<std::function<void(WeightBinder&)>> binds;

  const VaeConfig& c = config_;
  const int64_t n = static_cast<int64_t>(c.block_out_channels.size()), top = c.block_out_channels.back();
  // Map every expected current name to its source name, so "unexpected" can be judged in source names.
  auto conv_spec = [&](const std::string& p, int64_t cout, int64_t cin, int64_t k, Conv& out) {
    out.k = k;
    out.cout = cout;
    out.cin = cin;
    binds.push_back([=, &out](WeightBinder& b) {
      // packed for the GEMM as a (cout, cin*k*k) matrix
      Tensor w = b.take(p + ".weight", {cout, cin, k, k});
      out.w = w.defined() ? backend_->prepare_linear(w.reshape({cout, cin * k * k})) : w;
      out.b = b.take(p + ".bias", {cout});
    });
    note(p + ".weight");
    note(p + ".bias");
  };
  auto norm_spec = [&](const std::string& p, int64_t ch, Norm& out) {
    binds.push_back([=, &out](WeightBinder& b) {
      out.w = b.take(p + ".weight", {ch});
      out.b = b.take(p + ".bias", {ch});
    });
    note(p + ".weight");
    note(p + ".bias");
  };
  auto resnet_spec = [&](const std::string& p, int64_t cin, int64_t cout, Resnet& r) {
    r.cin = cin;
    r.cout = cout;
    norm_spec(p + ".norm1", cin, r.norm1);
    conv_spec(p + ".conv1", cout, cin, 3, r.conv1);
    norm_spec(p + ".norm2", cout, r.norm2);
    conv_spec(p + ".conv2", cout, cout, 3, r.conv2);
    if (cin != cout) conv_spec(p + ".conv_shortcut", cout, cin, 1, r.shortcut);
  };

  conv_spec("post_quant_conv", c.latent_channels, c.latent_channels, 1, post_quant_conv_);
  conv_spec("decoder.conv_in", top, c.latent_channels, 3, conv_in_);
  resnet_spec("decoder.mid_block.resnets.0", top, top, mid_resnet0_);
  if (c.mid_block_add_attention) {
    const std::string p = "decoder.mid_block.attentions.0";
    norm_spec(p + ".group_norm", top, mid_attn_.norm);
    for (const char* proj : {".to_q", ".to_k", ".to_v", ".to_out.0"}) {
      note(p + proj + ".weight");
      note(p + proj + ".bias");
    }
    binds.push_back([=, this](WeightBinder& b) {
      // q, k, v fused into one [3C, C] projection so the attention kernel reads [q | k | v] per token.
      Tensor q = b.take(p + ".to_q.weight", {top, top}), k = b.take(p + ".to_k.weight", {top, top}),
             v = b.take(p + ".to_v.weight", {top, top});
      Tensor qb = b.take(p + ".to_q.bias", {top}), kb = b.take(p + ".to_k.bias", {top}), vb = b.take(p + ".to_v.bias", {top});
      mid_attn_.out_w = backend_->prepare_linear(b.take(p + ".to_out.0.weight", {top, top}));
      mid_attn_.out_b = b.take(p + ".to_out.0.bias", {top});
      if (q.defined() && k.defined() && v.defined() && qb.defined() && kb.defined() && vb.defined()) {
        mid_attn_.qkv_w = backend_->empty(DType::F32, {3 * top, top});
        mid_attn_.qkv_b = backend_->empty(DType::F32, {3 * top});
        for (int i = 0; i < 3; ++i) {
          Tensor wi = mid_attn_.qkv_w.slice_rows(i * top, (i + 1) * top), bi = mid_attn_.qkv_b.slice_rows(i * top, (i + 1) * top);
          backend_->copy(i == 0 ? q : i == 1 ? k : v, wi);
          backend_->copy(i == 0 ? qb : i == 1 ? kb : vb, bi);
        }
        mid_attn_.qkv_w = backend_->prepare_linear(mid_attn_.qkv_w);
      }
    });
  }
  resnet_spec("decoder.mid_block.resnets.1", top, top, mid_resnet1_);
  up_.resize(n);
  int64_t prev = top;
  for (int64_t i = 0; i < n; ++i) {
    UpBlock& blk = up_[i];
    blk.channels = c.block_out_channels[n - 1 - i];
    blk.resnets.resize(c.layers_per_block + 1);
    for (int64_t j = 0; j <= c.layers_per_block; ++j) {
      resnet_spec("decoder.up_blocks." + std::to_string(i) + ".resnets." + std::to_string(j), j == 0 ? prev : blk.channels,
                  blk.channels, blk.resnets[j]);
    }
    blk.has_upsample = i < n - 1;
    if (blk.has_upsample)
      conv_spec("decoder.up_blocks." + std::to_string(i) + ".upsamplers.0.conv", blk.channels, blk.channels, 3, blk.upsample);
    prev = blk.channels;
  }
  norm_spec("decoder.conv_norm_out", prev, norm_out_);
  conv_spec("decoder.conv_out", c.out_channels, prev, 3, conv_out_);

  renamed.set_expected(expected);
  WeightBinder binder(renamed, *backend_, hooks);
  for (auto& bind : binds) bind(binder);
  binder.finish();
  for (auto& e : expected) weight_bytes_ += shape_numel(renamed.shape(e)) * sizeof(float);
}

// ---------------------------------------------------------------------------------------------- graph
// The decoder as an op graph (graph/graph.h) for one chunk shape: weights are constants, z is external 0.
ValueId VaeDecoder::group_norm(Graph& g, ValueId x, const Norm& n, bool silu) const {
  ops::GroupNorm op;
  op.groups = config_.norm_num_groups;
  op.eps = kNormEps;
  op.silu = silu;
  const int64_t C = g.desc(x).dim(1);
  return g.add(op, {x, g.constant(n.w, {C}), g.constant(n.b, {C})});
}

ValueId VaeDecoder::conv(Graph& g, ValueId x, const Conv& c) const {
  ops::Conv2d op;
  op.k = c.k;
  return g.add(op, {x, g.constant(c.w, {c.cout, c.cin * c.k * c.k}), g.constant(c.b, {c.cout})});
}

ValueId VaeDecoder::resnet(Graph& g, ValueId x, const Resnet& r) const {
  ValueId h = conv(g, group_norm(g, x, r.norm1, true), r.conv1);
  h = conv(g, group_norm(g, h, r.norm2, true), r.conv2);
  const ValueId skip = r.cin != r.cout ? conv(g, x, r.shortcut) : x;
  return g.add(ops::Add{}, {h, skip});  // (shortcut(x) + h) / output_scale_factor, which is 1
}

ValueId VaeDecoder::attention(Graph& g, ValueId x, const Attention& a) const {
  const Shape xs = g.desc(x).shape;
  const int64_t B = xs[0], C = xs[1], HW = xs[2] * xs[3];
  const ValueId normed = group_norm(g, x, a.norm, false);
  ops::SwapTokenAxes swap;
  swap.batch = B;
  // (B, C, HW) -> (B, HW, C)
  ValueId tokens = g.reshape(g.add(swap, {g.reshape(normed, {B * C, HW, 1})}), {B, HW, C});
  ops::Linear linear;
  const ValueId qkv = g.add(linear, {tokens, g.constant(a.qkv_w, {3 * C, C}), g.constant(a.qkv_b, {3 * C})});
  ops::Attention attn;
  attn.heads = 1;  // one head of dim C
  const ValueId attended = g.add(attn, {qkv});
  const ValueId projected = g.add(linear, {attended, g.constant(a.out_w, {C, C}), g.constant(a.out_b, {C})});
  // (B, HW, C) -> (B, C, HW)
  const ValueId out = g.reshape(g.add(swap, {g.reshape(projected, {B * HW, C, 1})}), xs);
  return g.add(ops::Add{}, {out, x});  // residual, rescale_output_factor 1
}

Graph& VaeDecoder::chunk_graph(const Shape& z_shape) {
  const std::string key = shape_str(z_shape);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return *it->second;
  if (graphs_.size() >= 8) graphs_.clear();
  auto g = std::make_unique<Graph>(backend_.get());
  ValueId h = conv(*g, g->external(0, z_shape, DType::F32), post_quant_conv_);
  g->tap("post_quant_conv");
  h = conv(*g, h, conv_in_);
  g->tap("conv_in");
  h = resnet(*g, h, mid_resnet0_);
  g->tap("mid_resnet0");
  if (config_.mid_block_add_attention) {
    h = attention(*g, h, mid_attn_);
    g->tap("mid_attn");
  }
  h = resnet(*g, h, mid_resnet1_);
  g->tap("mid_block");
  for (size_t i = 0; i < up_.size(); ++i) {
    g->begin_block("up_blocks." + std::to_string(i));
    for (auto& r : up_[i].resnets) h = resnet(*g, h, r);
    g->tap("up_block" + std::to_string(i) + "_resnets");
    if (up_[i].has_upsample) h = conv(*g, g->add(ops::UpsampleNearest2x{}, {h}), up_[i].upsample);
    g->tap("up_block" + std::to_string(i));
  }
  g->begin_block("");
  h = group_norm(*g, h, norm_out_, true);
  g->tap("norm_out_act");
  h = conv(*g, h, conv_out_);
  g->output(h);
  g->finalize();
  outputs_[key] = h;
  return *(graphs_[key] = std::move(g));
}

Tensor VaeDecoder::decode(const Tensor& z, int64_t chunk, Taps* taps, const std::atomic<bool>* abort,
                          const ProgressFn& progress) {
  const VaeConfig& c = config_;
  if (z.dtype() != DType::F32 || z.ndim() != 4 || z.dim(1) != c.latent_channels || z.dim(0) < 1 || z.dim(2) < 1 || z.dim(3) < 1)
    fail(ErrorKind::InvalidArgument, "Expected float32 latents (B, " + std::to_string(c.latent_channels) +
                                         ", h, w) for z but received " + z.describe());
  if (chunk < 1) chunk = 1;
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
  // big decode so that an idle VAE holds only its weights.
  struct Release {
    VaeDecoder& v;
    ~Release() {
      if (v.arena_.defined() && v.arena_.nbytes() > kArenaRetain) v.arena_ = Tensor();
    }
  } release{*this};
  for (int64_t b0 = 0; b0 < B; b0 += chunk) {
    const int64_t b1 = std::min(B, b0 + chunk);
    check_abort(abort);
    const Tensor part = z.slice_rows(b0, b1);
    Graph& g = chunk_graph(part.shape());
    if (!arena_.defined() || arena_.nbytes() < g.arena_bytes()) {
      arena_ = Tensor();
      arena_ = backend_->empty(DType::F32, {int64_t((g.arena_bytes() + 3) / 4)});
    }
    GraphBindings bind{arena_, {part}};
    backend_->compute(g, bind, hooks);
    backend_->download(g.tensor(outputs_[shape_str(part.shape())], bind), out.f32() + b0 * per_image);
    if (progress) progress(++done, total);
  }
  return out;
}

}  // namespace skipdit
