// Weight binding, input checks and the layers shared by DiT and Latte (embedders, adaLN block, skip
// fusion, final layer). The two graphs are in dit.cpp and latte.cpp.
#include "model/model.h"

#include <cstring>

namespace skipdit {

namespace {
constexpr float kLayerNormEps = 1e-6f;

void bad_input(const std::string& field, const std::string& expected, const std::string& got) {
  fail(ErrorKind::InvalidArgument, "Expected " + expected + " for " + field + " but received " + got);
}
}  // namespace

void Taps::record(Backend& backend, const std::string& name, const Tensor& t) {
  Entry& e = entries[name];
  e.shape = t.shape();
  e.records.emplace_back(t.numel());
  backend.download(t, e.records.back().data());
}

Model::Model(const ModelConfig& config, std::shared_ptr<Backend> backend, const WeightSource& source,
             const LoadHooks& hooks)
    : config_(config), backend_(std::move(backend)), workspace_(*backend_) {
  config_.validate();
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, p = c.patch_size, Hm = c.mlp_hidden();
  WeightBinder bind(source, *backend_, hooks);
  // weight_bytes_ counts what the backend keeps: packed panels in the model's precision, the rest float32.
  auto keep = [&](Tensor t) {
    weight_bytes_ += t.nbytes();
    return t;
  };
  auto take = [&](const std::string& name, const Shape& shape) { return keep(bind.take(name, shape)); };
  auto linear = [&](const std::string& prefix, int64_t out, int64_t in) {  // (braced init: left to right)
    return LinearWeights{keep(backend_->prepare_linear(bind.take(prefix + ".weight", {out, in}))),
                         take(prefix + ".bias", {out})};
  };
  w_.pos_embed = take("pos_embed", {1, c.tokens(), D});
  if (c.family == Family::Latte) w_.temp_embed = take("temp_embed", {1, c.num_frames, D});
  w_.patch_weight = take("x_embedder.proj.weight", {D, c.in_channels, p, p});
  w_.patch_bias = take("x_embedder.proj.bias", {D});
  w_.t_mlp0 = linear("t_embedder.mlp.0", D, kFrequencyDim);
  w_.t_mlp2 = linear("t_embedder.mlp.2", D, D);
  if (c.conditional()) w_.label_table = take("y_embedder.embedding_table.weight", {c.label_rows(), D});
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i);
    w_.blocks.push_back({linear(b + ".attn.qkv", 3 * D, D), linear(b + ".attn.proj", D, D),
                         linear(b + ".mlp.fc1", Hm, D), linear(b + ".mlp.fc2", D, Hm),
                         linear(b + ".adaLN_modulation.1", 6 * D, D)});
  }
  for (int64_t j = 0; j < c.num_skips(); ++j) {
    const std::string n = "skip_norms." + std::to_string(j);
    w_.skips.push_back({take(n + ".weight", {2 * D}), take(n + ".bias", {2 * D}),
                        linear("skip_linears." + std::to_string(j) + ".linear", D, 2 * D)});
  }
  w_.final_adaLN = linear("final_layer.adaLN_modulation.1", 2 * D, D);
  w_.final_linear = linear("final_layer.linear", p * p * c.out_channels(), D);
  bind.finish();
}

void Model::validate_inputs(const ForwardInputs& in) const {
  const ModelConfig& c = config_;
  const bool latte = c.family == Family::Latte;
  const Shape& xs = in.x.shape();
  const std::string layout = latte ? "(B, F, C, H, W)" : "(B, C, H, W)";
  if (in.x.dtype() != DType::F32) bad_input("x", "a float32 tensor", dtype_name(in.x.dtype()));
  if (xs.size() != (latte ? 5u : 4u)) bad_input("x", "a " + layout + " tensor", "shape " + shape_str(xs));
  const int64_t B = xs[0];
  Shape want = latte ? Shape{B, c.num_frames, c.in_channels, c.input_size, c.input_size}
                     : Shape{B, c.in_channels, c.input_size, c.input_size};
  if (B < 1 || xs != want) bad_input("x", "shape " + layout + " = " + shape_str(want) + " with B >= 1", shape_str(xs));
  if (in.t.dtype() != DType::F32 || in.t.shape() != Shape{B})
    bad_input("t", "float32 timesteps of shape [" + std::to_string(B) + "]", in.t.describe());
  if (c.conditional()) {
    if (!in.y.defined() || in.y.dtype() != DType::I64 || in.y.shape() != Shape{B})
      bad_input("y", "int64 labels of shape [" + std::to_string(B) + "]", in.y.defined() ? in.y.describe() : "none");
    const int64_t* y = in.y.i64();
    for (int64_t b = 0; b < B; ++b)
      if (y[b] < 0 || y[b] >= c.label_rows())
        bad_input("y[" + std::to_string(b) + "]", "a label in [0, " + std::to_string(c.label_rows() - 1) + "]",
                  std::to_string(y[b]));
  } else if (in.y.defined()) {
    bad_input("y", "no labels (the model is unconditional)", in.y.describe());
  }
}

std::string Model::region_key(const ForwardInputs& in, Taps* taps, SkipCache* cache,
                              const ForwardReport& report) const {
  if (taps) return "";
  std::string key = std::to_string(reinterpret_cast<uintptr_t>(this)) + " x" + shape_str(in.x.shape()) +
                    " workspace " + std::to_string(workspace_.generation());
  // Resident latents are read in place: the graph holds their address.
  if (in.x.device() != Device::CPU) key += " x@" + std::to_string(reinterpret_cast<uintptr_t>(in.x.raw()));
  if (cache) {  // which blocks run, and the feature buffer a full call saves into / a cached call restores from
    key += " cache " + std::to_string(reinterpret_cast<uintptr_t>(cache)) + " feature " +
           std::to_string(reinterpret_cast<uintptr_t>(cache->feature_data())) + (report.cached ? " cached " : " full ");
    for (int64_t i = 0; i < config_.depth; ++i) key += cache->skips(i) ? '-' : 'b';
  }
  return key;
}

Tensor Model::backend_input(const Tensor& x) {
  return x.device() == backend_->device() ? x : backend_->upload_f32(x);
}

Tensor Model::download(const Tensor& t) {
  Tensor out = Tensor::host(DType::F32, t.shape());
  backend_->download(t, out.f32());
  return out;
}

Tensor Model::make_resident(const Tensor& host) {
  SKIPDIT_CHECK(host.dtype() == DType::F32 && host.device() == Device::CPU, "make_resident of " + host.describe());
  return backend_->upload_f32(host);
}

class Model::CallScope {
 public:
  explicit CallScope(Model& m) : m_(m), exceptions_(std::uncaught_exceptions()) {}
  ~CallScope() {
    const bool failed = std::uncaught_exceptions() > exceptions_;
    // A failed call's half-built workspace (typically a batch too big for the memory) helps no one: free it.
    if (failed || m_.workspace_.bytes() > m_.workspace_retain_) {
      if (failed) {
        try {
          m_.backend_->synchronize();  // no kernel may still be writing into what is freed
        } catch (...) {
        }
      }
      m_.workspace_.release();
    }
    m_.workspace_bytes_ = m_.workspace_.bytes();
  }

 private:
  Model& m_;
  int exceptions_;
};

Tensor Model::forward(const ForwardInputs& in, const ForwardOptions& options, ForwardReport* report) {
  CallScope scope(*this);
  ForwardReport local;
  return download(forward_resident(in, options, report ? *report : local));
}

Tensor Model::forward_with_cfg(const ForwardInputs& in, float scale, int64_t guided_channels,
                               const ForwardOptions& options, ForwardReport* report) {
  CallScope scope(*this);
  ForwardReport local;
  return download(forward_with_cfg_resident(in, Guidance{scale, guided_channels}, options, report ? *report : local));
}

Tensor Model::forward_resident(const ForwardInputs& in, const ForwardOptions& options, ForwardReport& r) {
  validate_inputs(in);
  SkipCache* cache = options.cache;
  std::unique_lock<std::mutex> cache_lock;
  if (cache) {
    if (cache->owner() != this) bad_input("cache", "a cache created by this model", "a cache of another model");
    cache_lock = std::unique_lock<std::mutex>(cache->mutex());
    r.cached = !cache->begin_call(in.t.f32()[0], in.x.shape(), options.force_full);
  }
  const int64_t launches = backend_->region_launches();
  abort_ = options.abort;
  Tensor out;
  try {
    out = config_.family == Family::DiT ? forward_dit(in, options.taps, cache, r) : forward_latte(in, options.taps, cache, r);
  } catch (...) {
    abort_ = nullptr;
    if (cache) cache->abort_call();
    throw;
  }
  abort_ = nullptr;
  r.graph = backend_->region_launches() > launches;
  if (cache) cache->end_call(in.t.f32()[0], r.blocks_executed);
  return out;
}

Tensor Model::forward_with_cfg_resident(const ForwardInputs& in, const Guidance& guidance,
                                        const ForwardOptions& options, ForwardReport& report) {
  validate_inputs(in);
  const int64_t B = in.x.dim(0);
  if (B % 2 != 0) bad_input("x", "an even batch (conditional rows, then unconditional rows)", std::to_string(B));
  const int64_t C = config_.out_channels();
  if (guidance.channels < 1 || guidance.channels > C)
    bad_input("cfgChannels", "an integer in [1, " + std::to_string(C) + "]", std::to_string(guidance.channels));
  // The official code ignores the second half of x and runs the first half twice.
  ForwardInputs doubled = in;
  const Tensor first_half = in.x.slice_rows(0, B / 2);
  if (in.x.device() == backend_->device()) {  // resident latents: doubled in the backend's memory
    doubled.x = workspace_.get("cfg_x", in.x.shape());
    Tensor cond = doubled.x.slice_rows(0, B / 2), uncond = doubled.x.slice_rows(B / 2, B);
    backend_->copy(first_half, cond);
    backend_->copy(first_half, uncond);
  } else {
    doubled.x = Tensor::host(DType::F32, in.x.shape());
    const size_t half_bytes = in.x.nbytes() / 2;
    std::memcpy(doubled.x.raw(), first_half.raw(), half_bytes);
    std::memcpy(static_cast<char*>(doubled.x.raw()) + half_bytes, first_half.raw(), half_bytes);
  }
  Tensor raw = forward_resident(doubled, options, report);
  if (options.taps) options.taps->record(*backend_, "cfg_raw", raw);
  Tensor out = workspace_.get("cfg_out", raw.shape());
  const int64_t frames = config_.family == Family::Latte ? config_.num_frames : 1;
  backend_->cfg_guidance(raw, frames, C, guidance.channels, guidance.scale, out);
  return out;
}

void Model::sample_step(Tensor& x, const Tensor& t, const Tensor& y, const Guidance& guidance,
                        const SamplerUpdate& update, const Tensor& noise, const ForwardOptions& options,
                        ForwardReport* report) {
  CallScope scope(*this);
  if (x.device() != backend_->device() || x.dtype() != DType::F32)
    bad_input("latents", std::string("float32 latents in the ") + backend_->name() + " backend's memory",
              x.describe());
  if (update.kind == SamplerUpdate::Kind::DDPM && update.learned_range && !config_.learn_sigma)
    bad_input("update", "a fixed variance (the model has no variance channels: learn_sigma is false)",
              "learned_range");
  if (update.needs_noise() && (!noise.defined() || noise.dtype() != DType::F32 || noise.numel() != x.numel()))
    bad_input("noise", std::to_string(x.numel()) + " float32 values (like the latents)",
              noise.defined() ? noise.describe() : "none");
  // The noise goes into a workspace buffer before the forward, while the stream is idle: no allocation per step.
  Tensor staged_noise;
  if (update.needs_noise()) {
    staged_noise = workspace_.get("step_noise", x.shape());
    backend_->copy(noise, staged_noise);
  }
  ForwardReport local;
  ForwardReport& r = report ? *report : local;
  const ForwardInputs in{x, t, y};
  Tensor out = guidance.channels > 0 ? forward_with_cfg_resident(in, guidance, options, r)
                                     : forward_resident(in, options, r);
  const int64_t outer = config_.family == Family::Latte ? x.dim(0) * config_.num_frames : x.dim(0);
  backend_->sampler_update(out, outer, config_.in_channels, staged_noise, update, x);
  backend_->synchronize();  // the step is done (and any device fault reported) when the call returns
}

Tensor Model::conditioning(const ForwardInputs& in, Taps* taps) {
  Backend& be = *backend_;
  const int64_t B = in.t.numel(), D = config_.hidden_size;
  Tensor t = be.upload_f32(in.t);
  Tensor t_freq = workspace_.get("t_freq", {B, kFrequencyDim});
  be.timestep_frequencies(t, t_freq);
  Tensor hidden = workspace_.get("t_hidden", {B, D});
  be.linear(t_freq, w_.t_mlp0.weight, w_.t_mlp0.bias, hidden);
  be.silu(hidden, hidden);
  Tensor c = workspace_.get("c", {B, D});
  be.linear(hidden, w_.t_mlp2.weight, w_.t_mlp2.bias, c);
  if (taps) {
    taps->record(be, "t_freq", t_freq);
    taps->record(be, "t_emb", c);
  }
  if (config_.conditional()) {
    Tensor y_emb = workspace_.get("y_emb", {B, D});
    be.embedding(w_.label_table, in.y, y_emb);
    if (taps) taps->record(be, "y_emb", y_emb);
    be.add(c, y_emb);
  }
  Tensor silu_c = workspace_.get("silu_c", {B, D});
  be.silu(c, silu_c);
  return silu_c;
}

void Model::run_block(int64_t i, Tensor& h, const Tensor& silu_c, int64_t group_repeat) {
  Backend& be = *backend_;
  const BlockWeights& w = w_.blocks[i];
  const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2), Hm = config_.mlp_hidden();
  // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaLN_modulation(c).chunk(6)
  Tensor mod = workspace_.get("block_mod", {silu_c.dim(0), 6 * D});
  be.linear(silu_c, w.adaLN.weight, w.adaLN.bias, mod);
  Tensor normed = workspace_.operands("block_normed", {G, N, D});
  Tensor branch = workspace_.activations("block_branch", {G, N, D});
  // attention branch
  be.layer_norm_modulate(h, kLayerNormEps, mod, group_repeat, 0, 1, normed);
  Tensor qkv = workspace_.activations("block_qkv", {G, N, 3 * D});
  be.linear(normed, w.qkv.weight, w.qkv.bias, qkv);
  Tensor attn = workspace_.activations("block_attn", {G, N, D});
  be.attention(qkv, config_.num_heads, attn);
  be.linear_gate_residual(attn, w.proj.weight, w.proj.bias, mod, group_repeat, 2, h, branch);
  // MLP branch
  be.layer_norm_modulate(h, kLayerNormEps, mod, group_repeat, 3, 4, normed);
  Tensor hidden = workspace_.operands("block_mlp_hidden", {G, N, Hm});
  be.linear(normed, w.fc1.weight, w.fc1.bias, hidden, Activation::GeluTanh);
  be.linear_gate_residual(hidden, w.fc2.weight, w.fc2.bias, mod, group_repeat, 5, h, branch);
}

void Model::fuse_skip(int64_t j, Tensor& h, const Tensor& skip) {
  Backend& be = *backend_;
  const SkipWeights& w = w_.skips[j];
  Tensor cat = workspace_.operands("skip_cat", {h.dim(0), h.dim(1), 2 * h.dim(2)});
  be.layer_norm_concat(h, skip, kLayerNormEps, w.norm_weight, w.norm_bias, cat);
  be.linear(cat, w.linear.weight, w.linear.bias, h);
}

Tensor Model::final_layer(const Tensor& h, const Tensor& silu_c, int64_t group_repeat, Taps* taps) {
  Backend& be = *backend_;
  const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2), p = config_.patch_size, C = config_.out_channels();
  Tensor mod = workspace_.get("final_mod", {silu_c.dim(0), 2 * D});  // shift, scale
  be.linear(silu_c, w_.final_adaLN.weight, w_.final_adaLN.bias, mod);
  Tensor normed = workspace_.operands("block_normed", {G, N, D});
  be.layer_norm_modulate(h, kLayerNormEps, mod, group_repeat, 0, 1, normed);
  Tensor patches = workspace_.activations("final_tokens", {G, N, p * p * C});
  be.linear(normed, w_.final_linear.weight, w_.final_linear.bias, patches);
  if (taps) taps->record(be, "final_tokens", patches);
  Tensor image = workspace_.get("image", {G, C, config_.input_size, config_.input_size});
  be.unpatchify(patches, p, image);
  return image;
}

}  // namespace skipdit
