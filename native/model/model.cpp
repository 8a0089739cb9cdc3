// The model: weights bound to its family's blocks, forwards recorded once per (input shape, guidance, Skip-Cache
// variant) as op graphs and run on the backend (graph/graph.h). The forwards themselves are in dit.cpp / latte.cpp.
#include "model/model.h"

#include <chrono>
#include <cstring>

namespace skipdit {

namespace {
constexpr size_t kMaxRecordedForwards = 32;  // shapes x guidance x cache variants: forget all past this many
}  // namespace

void Taps::record(Backend& backend, const std::string& name, const Tensor& t) {
  Entry& e = entries[name];
  e.shape = t.shape();
  e.records.emplace_back(t.numel());
  backend.download(t, e.records.back().data());
}

Model::Model(const ModelConfig& config, std::shared_ptr<Backend> backend, const WeightSource& source,
             const LoadHooks& hooks)
    : config_(config), backend_(std::move(backend)), arch_(make_architecture(config)), arena_(*backend_, kDefaultWorkspaceRetain) {
  WeightBinder bind(source, *backend_, hooks);
  // weight_bytes_ counts what the backend keeps: packed panels in the model's precision, the rest float32.
  for (const auto& p : arch_->params().all()) {
    if (p->buffer) {  // computed, not in the checkpoint
      Tensor host = Tensor::host(DType::F32, p->shape);
      std::memcpy(host.raw(), p->value.data(), p->value.size() * sizeof(float));
      p->tensor = backend_->upload_f32(host);
      continue;
    }
    p->bind(bind.take(p->name, p->shape), *backend_);
    weight_bytes_ += p->tensor.defined() ? p->tensor.nbytes() : 0;
  }
  bind.finish();
}

// User input is validated once, in lib/model.ts, with typed errors naming the parameter. Here the same facts are
// invariants of the C++ API (a failure is a caller's bug, reported as Internal); the label range also guards
// memory: labels index the embedding table.
void Model::check_inputs(const ForwardInputs& in) const {
  const ModelConfig& c = config_;
  const Shape& xs = in.x.shape();
  const int64_t B = xs.empty() ? 0 : xs[0];
  const Shape want = arch_->input_shape(B);
  SKIPDIT_CHECK(in.x.dtype() == DType::F32 && B >= 1 && arch_->input_ok(xs), "x " + in.x.describe() + " for " + c.summary());
  (void)want;
  if (c.family == Family::LatteT2V) {
    const Shape& ts = in.text.shape();
    SKIPDIT_CHECK(in.text.defined() && in.text.dtype() == DType::F32 && ts.size() == 3 && ts[0] == B && ts[1] >= 1 &&
                      ts[2] == c.caption_channels,
                  "text " + (in.text.defined() ? in.text.describe() : std::string("missing")));
    SKIPDIT_CHECK(!in.text_mask.defined() || (in.text_mask.dtype() == DType::F32 && in.text_mask.shape() == Shape{B, ts[1]}),
                  "text_mask " + (in.text_mask.defined() ? in.text_mask.describe() : std::string()));
  } else if (c.family == Family::HunyuanDiT) {
    auto check = [&](const Tensor& t, const Shape& want, const char* name) {
      SKIPDIT_CHECK(t.defined() && t.dtype() == DType::F32 && t.shape() == want,
                    std::string(name) + " " + (t.defined() ? t.describe() : std::string("missing")));
    };
    check(in.text, {B, c.text_len, c.text_states_dim}, "text");
    check(in.text_mask, {B, c.text_len}, "text_mask");
    check(in.text_t5, {B, c.text_len_t5, c.text_states_dim_t5}, "text_t5");
    check(in.text_t5_mask, {B, c.text_len_t5}, "text_t5_mask");
    if (c.size_cond) check(in.image_meta, {B, 6}, "image_meta");
    SKIPDIT_CHECK(c.size_cond || !in.image_meta.defined(), "image_meta for a model without size_cond");
  } else {
    SKIPDIT_CHECK(!in.text.defined() && !in.text_mask.defined(), "text states for " + c.summary());
  }
  SKIPDIT_CHECK(c.family == Family::HunyuanDiT || (!in.text_t5.defined() && !in.text_t5_mask.defined()),
                "mT5 states for " + c.summary());
  SKIPDIT_CHECK(in.t.dtype() == DType::F32 && in.t.shape() == Shape{B}, "t " + in.t.describe());
  SKIPDIT_CHECK(c.conditional() == in.y.defined(), std::string("labels ") + (in.y.defined() ? "given" : "missing"));
  if (c.conditional()) {
    SKIPDIT_CHECK(in.y.dtype() == DType::I64 && in.y.shape() == Shape{B}, "y " + in.y.describe());
    const int64_t* y = in.y.i64();
    for (int64_t b = 0; b < B; ++b)
      SKIPDIT_CHECK(y[b] >= 0 && y[b] < c.label_rows(), "label " + std::to_string(y[b]) + " outside [0, " +
                                                            std::to_string(c.label_rows()) + ")");
  }
}

Model::RecordedForward& Model::forward_graph(const ForwardInputs& in, const Guidance& guidance, const SkipCache* cache,
                                             SkipCache::Call call) {
  const bool cached = call == SkipCache::Call::Cached;
  const Shape& x_shape = in.x.shape();
  std::string key = "x" + shape_str(x_shape);
  if (in.text.defined()) key += " text" + shape_str(in.text.shape()) + (in.text_mask.defined() ? " mask" : "");
  if (guidance.channels > 0)
    key += " cfg " + std::to_string(guidance.channels) + " " + std::to_string(guidance.scale);
  if (cache) key += (call == SkipCache::Call::Decide ? " decide " : cached ? " restore " : " save ") + std::to_string(cache->resume_block()) + (cache->policy().measure ? " probe" : "");
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return *it->second;
  if (graphs_.size() >= kMaxRecordedForwards) graphs_.clear();

  auto rec = std::make_unique<RecordedForward>();
  rec->graph = Graph(backend_.get());
  Graph& g = rec->graph;
  GraphBuilder b(g);
  const int64_t B = x_shape[0];
  ForwardSpec spec;
  spec.x = g.external(kX, x_shape, DType::F32);
  if (guidance.channels > 0) {  // the official code ignores the second half of x and runs the first half twice
    const ValueId doubled = g.empty(x_shape, DType::F32);
    g.add(ops::Copy{}, {g.rows(spec.x, 0, B / 2)}, DType::F32, g.rows(doubled, 0, B / 2));
    g.add(ops::Copy{}, {g.rows(spec.x, 0, B / 2)}, DType::F32, g.rows(doubled, B / 2, B));
    spec.x = doubled;
  }
  spec.t = g.external(kT, {B}, DType::F32);
  if (config_.conditional()) spec.y = g.external(kY, {B}, DType::I64);
  if (config_.family == Family::HunyuanDiT) {
    spec.text = g.external(kText, in.text.shape(), DType::F32);
    spec.text_t5 = g.external(kTextT5, in.text_t5.shape(), DType::F32);
    spec.text_keep = g.external(kTextKeep, {B, in.text.dim(1) + in.text_t5.dim(1)}, DType::F32);
    const int64_t T = arch_->tokens(x_shape), d = config_.head_dim();
    spec.rope_cos = g.external(kRopeCos, {T, d}, DType::F32);
    spec.rope_sin = g.external(kRopeSin, {T, d}, DType::F32);
    const auto [cos, sin] = arch_->rope_tables(x_shape);
    rec->rope_cos = backend_->upload_f32(cos);
    rec->rope_sin = backend_->upload_f32(sin);
    if (config_.size_cond) spec.image_meta = g.external(kImageMeta, {B, 6}, DType::F32);
  } else if (in.text.defined()) {
    spec.text = g.external(kText, in.text.shape(), DType::F32);
    if (in.text_mask.defined())
      spec.text_bias = g.external(kTextBias, {B * x_shape[2], 1, 1, in.text.dim(1)}, DType::F32);
  }
  if (cache) {
    spec.cache = call == SkipCache::Call::Decide ? ForwardSpec::Cache::Decide : cached ? ForwardSpec::Cache::Restore : ForwardSpec::Cache::Save;
    spec.skip_from = cache->skip_from();  // k units in (0 for a plain DiT)
    spec.resume = cache->resume_block();
    const int64_t groups = arch_->token_groups(x_shape);
    const DType feature_dtype = config_.family == Family::HunyuanDiT ? DType::F32 : g.activation_dtype();
    spec.feature = g.external(kFeature, {groups, arch_->tokens(x_shape), config_.hidden_size}, feature_dtype);
    if (cache->policy().measure) spec.probe = g.external(kProbe, {groups, arch_->tokens(x_shape), config_.hidden_size}, feature_dtype);
    if (call == SkipCache::Call::Decide) spec.resumed = g.empty({groups, arch_->tokens(x_shape), config_.hidden_size}, feature_dtype);
  }
  ForwardResult r = arch_->forward(b, spec);
  rec->out = r.out;
  rec->blocks_executed = r.blocks_executed;
  if (guidance.channels > 0) {
    g.tap("cfg_raw");
    ops::CfgGuidance cfg;
    cfg.frames = arch_->rows_before_channels();
    cfg.channels = config_.out_channels();
    cfg.uncond_first = arch_->cfg_uncond_first();
    cfg.guided_channels = guidance.channels;
    cfg.scale = guidance.scale;
    rec->out = g.add(cfg, {r.out});
  }
  g.output(rec->out);
  g.finalize();
  return *(graphs_[key] = std::move(rec));
}


Tensor Model::download(const Tensor& t) {
  Tensor out = Tensor::host(DType::F32, t.shape());
  download_into(t, out.f32());
  return out;
}

void Model::download_into(const Tensor& t, float* host) {
  const auto t0 = std::chrono::steady_clock::now();
  backend_->download(t, host);
  if (profiler_) profiler_->record("download", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

Tensor Model::make_resident(const Tensor& host) {
  SKIPDIT_CHECK(host.dtype() == DType::F32 && host.device() == Device::CPU, "make_resident of " + host.describe());
  return backend_->upload_f32(host);
}


Tensor Model::forward(const ForwardInputs& in, const ForwardOptions& options, ForwardReport* report) {
  GraphArena::CallScope scope(arena_);
  ForwardReport local;
  return download(forward_resident(in, Guidance{}, options, report ? *report : local));
}

Tensor Model::forward_with_cfg(const ForwardInputs& in, float scale, int64_t guided_channels,
                               const ForwardOptions& options, ForwardReport* report) {
  GraphArena::CallScope scope(arena_);
  ForwardReport local;
  return download(forward_resident(in, Guidance{scale, guided_channels}, options, report ? *report : local));
}

Tensor Model::forward_resident(const ForwardInputs& in, const Guidance& guidance, const ForwardOptions& options,
                               ForwardReport& r) {
  check_inputs(in);
  SKIPDIT_CHECK(guidance.channels == 0 || (in.x.dim(0) % 2 == 0 && guidance.channels <= config_.out_channels()),
                "guidance of " + std::to_string(guidance.channels) + " channels on x " + in.x.describe());
  SkipCache* cache = options.cache;
  SkipCache::Call call = SkipCache::Call::Full;
  std::unique_lock<std::mutex> cache_lock;
  if (cache) {
    SKIPDIT_CHECK(cache->owner() == this, "a cache of another model");
    cache_lock = std::unique_lock<std::mutex>(cache->mutex());
    call = cache->begin_call(in.t.f32()[0], in.x.shape(), options.force_full);
    r.cached = call == SkipCache::Call::Cached;
  }
  try {
    RecordedForward& rec = forward_graph(in, guidance, cache, call);
    GraphBindings bind;
    bind.arena = arena_.reserve(rec.graph.arena_bytes());
    bind.externals.resize(kSlots);
    bind.externals[kX] = in.x;
    bind.externals[kT] = in.t;
    bind.externals[kY] = in.y;
    bind.externals[kText] = in.text;
    if (config_.family == Family::HunyuanDiT) {  // keep = cat([mask, mask_t5], 1); the RoPE tables of this size
      const int64_t B = in.x.dim(0), L1 = in.text.dim(1), L2 = in.text_t5.dim(1);
      Tensor keep = Tensor::host(DType::F32, {B, L1 + L2});
      for (int64_t b = 0; b < B; ++b) {
        std::memcpy(keep.f32() + b * (L1 + L2), in.text_mask.f32() + b * L1, L1 * sizeof(float));
        std::memcpy(keep.f32() + b * (L1 + L2) + L1, in.text_t5_mask.f32() + b * L2, L2 * sizeof(float));
      }
      bind.externals[kTextT5] = in.text_t5;
      bind.externals[kTextKeep] = keep;
      bind.externals[kRopeCos] = rec.rope_cos;
      bind.externals[kRopeSin] = rec.rope_sin;
      bind.externals[kImageMeta] = in.image_meta;
    } else if (in.text_mask.defined()) {  // diffusers: (1 - mask) * -10000, repeated per frame ('b 1 l -> (b f) 1 l')
      const int64_t B = in.x.dim(0), F = in.x.dim(2), L = in.text.dim(1);
      Tensor bias = Tensor::host(DType::F32, {B * F, 1, 1, L});
      const float* m = in.text_mask.f32();
      float* out = bias.f32();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t f = 0; f < F; ++f)
          for (int64_t l = 0; l < L; ++l) out[(b * F + f) * L + l] = (1.0f - m[b * L + l]) * -10000.0f;
      bind.externals[kTextBias] = bias;
    }
    if (cache) {
      const Shape shape{arch_->token_groups(in.x.shape()), arch_->tokens(in.x.shape()), config_.hidden_size};
      const DType dtype = config_.family == Family::HunyuanDiT ? DType::F32 : backend_->activation_dtype();
      // a Decide call reads the feature (cached) or writes it (full): the buffer of the last full call either way
      bind.externals[kFeature] = call == SkipCache::Call::Full ? cache->feature_to_save(*backend_, shape, dtype) : cache->feature_to_restore();
      if (cache->policy().measure) bind.externals[kProbe] = cache->probe_to_fill(*backend_, shape, dtype);
    }
    ComputeHooks hooks;
    hooks.abort = options.abort;
    hooks.replayable = call != SkipCache::Call::Decide;  // the decision is taken on the host, inside the run
    if (call == SkipCache::Call::Decide) hooks.decide = [&] { return cache->decide_now(*backend_); };
    hooks.observer = profiler_.get();
    if (options.taps) hooks.tap = [&](const std::string& name, const Tensor& t) { options.taps->record(*backend_, name, t); };
    const int64_t launches = backend_->graph_launches();
    backend_->compute(rec.graph, bind, hooks);
    r.graph = backend_->graph_launches() > launches;
    r.blocks_executed = rec.blocks_executed;
    if (call == SkipCache::Call::Decide) {
      r.cached = !cache->full();
      if (r.cached) r.blocks_executed -= cache->resume_block() - cache->skip_from();  // the middle did not run
    }
    if (cache) {
      if (cache->policy().measure && call != SkipCache::Call::Decide) cache->measure(*backend_);  // Decide measured inside
      cache->end_call(in.t.f32()[0], r.blocks_executed);
      if (cache->policy().measure) r.drift = cache->drift();
      if (cache->policy().adaptive) r.accumulated = cache->accumulated();
    }
    return rec.graph.tensor(rec.out, bind);
  } catch (...) {
    if (cache) cache->abort_call();
    throw;
  }
}

void Model::sample_step(Tensor& x, const ForwardInputs& conditions, const Guidance& guidance,
                        const SamplerUpdate& update, const Tensor& noise, const ForwardOptions& options,
                        ForwardReport* report) {
  GraphArena::CallScope scope(arena_);
  SKIPDIT_CHECK(x.device() == backend_->device() && x.dtype() == DType::F32, "latents " + x.describe());
  SKIPDIT_CHECK(!(update.kind == SamplerUpdate::Kind::DDPM && update.learned_range && !config_.learn_sigma),
                "learned_range on a model without variance channels");
  SKIPDIT_CHECK(!update.needs_noise() || (noise.defined() && noise.dtype() == DType::F32 && noise.numel() == x.numel()),
                "noise " + (noise.defined() ? noise.describe() : std::string("none")) + " for latents " + x.describe());
  ForwardReport local;
  ForwardReport& r = report ? *report : local;
  ForwardInputs in = conditions;
  in.x = x;
  const Tensor out = forward_resident(in, guidance, options, r);
  // The update's scalars change every step: a one-node graph run eagerly, in place on the latents.
  enum { kModelOut, kNoise, kLatents };
  Graph g(backend_.get());
  ops::SamplerStep step;
  step.u = update;
  step.outer = x.dim(0) * arch_->rows_before_channels();
  step.channels = config_.in_channels;
  const ValueId noise_value = update.needs_noise() ? g.external(kNoise, x.shape(), DType::F32) : kNoValue;
  g.add(step, {g.external(kModelOut, out.shape(), DType::F32), noise_value, g.external(kLatents, x.shape(), DType::F32)});
  g.finalize();
  GraphBindings bind;
  bind.externals = {out, update.needs_noise() ? noise.reshape(x.shape()) : Tensor(), x};
  ComputeHooks hooks;
  hooks.observer = profiler_.get();
  backend_->compute(g, bind, hooks);
  backend_->synchronize();  // the step is done (and any device fault reported) when the call returns
}

}  // namespace skipdit
