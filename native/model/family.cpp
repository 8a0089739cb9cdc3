// The family registry and describe().
#include "model/family.h"

#include "model/skip_cache.h"

namespace skipdit {

std::unique_ptr<Architecture> make_dit(const ModelConfig& c);
std::unique_ptr<Architecture> make_latte(const ModelConfig& c);
std::unique_ptr<Architecture> make_latte_t2v(const ModelConfig& c);
std::unique_ptr<Architecture> make_hunyuan_dit(const ModelConfig& c);

namespace {
struct FamilyEntry {
  Family family;
  std::unique_ptr<Architecture> (*make)(const ModelConfig&);
};
constexpr FamilyEntry kFamilies[] = {{Family::DiT, make_dit}, {Family::Latte, make_latte},
                                       {Family::LatteT2V, make_latte_t2v}, {Family::HunyuanDiT, make_hunyuan_dit}};
}  // namespace

std::unique_ptr<Architecture> make_architecture(const ModelConfig& config) {
  config.validate();
  for (const FamilyEntry& f : kFamilies)
    if (f.family == config.family) return f.make(config);
  fail(ErrorKind::Internal, "no family registered for " + config.summary());
}

bool skip_cache_skips(GraphBuilder& b, const ForwardSpec& s, int64_t i, ValueId& h) {
  if (s.cache == ForwardSpec::Cache::None) return false;
  if (i == s.skip_from && s.probe != kNoValue) {
    b.g.begin_block("skip_cache");
    b.g.add(ops::Copy{}, {h}, b.g.desc(h).dtype, s.probe);
  }
  if (s.cache == ForwardSpec::Cache::Decide) {
    Graph& g = b.g;
    if (i == s.skip_from) g.begin_branch(1);  // the middle units: run only when decide() says full
    if (i == s.resume) {
      g.begin_block("skip_cache");
      g.add(ops::Copy{}, {h}, g.desc(h).dtype, s.feature);
      g.add(ops::Copy{}, {h}, g.desc(h).dtype, s.resumed);
      g.begin_branch(2);  // cached: resume from the feature of the last full call
      const ValueId resumed = g.add(ops::Copy{}, {s.feature}, g.desc(h).dtype, s.resumed);
      g.begin_branch(0);
      h = resumed;  // written by either alternative; the blocks after it update it in place
    }
    return false;
  }
  if (s.cache == ForwardSpec::Cache::Restore && i >= s.skip_from && i < s.resume) return true;
  if (i == s.resume) h = resume_from_cache(b, s, h);
  return false;
}

ValueId resume_from_cache(GraphBuilder& b, const ForwardSpec& s, ValueId h) {
  Graph& g = b.g;
  g.begin_block("skip_cache");
  if (s.cache == ForwardSpec::Cache::Save) {
    g.add(ops::Copy{}, {h}, g.desc(h).dtype, s.feature);
    return h;
  }
  return g.add(ops::Copy{}, {s.feature}, g.desc(h).dtype);
}

ModelDescription describe(const ModelConfig& config, int64_t batch) {
  SKIPDIT_CHECK(batch >= 1, "describe at batch " + std::to_string(batch));
  std::unique_ptr<Architecture> arch = make_architecture(config);
  ModelDescription d;
  for (const auto& p : arch->params().all())
    if (!p->buffer) d.params.push_back({p->name, p->shape, p->linear_weight && !p->keep_f32});
  d.skip_pairs = arch->skip_pairs();
  d.unit_blocks = arch->unit_blocks();
  auto run = [&](ForwardSpec spec, int64_t* blocks) {
    const ModelConfig& c = config;
    Graph g(nullptr);
    GraphBuilder b(g);
    spec.x = g.external(0, arch->input_shape(batch), DType::F32);
    spec.t = g.external(1, {batch}, DType::F32);
    if (c.conditional()) spec.y = g.external(2, {batch}, DType::I64);
    // LatteT2V: costs at the pipeline's 120 text tokens
    if (c.family == Family::LatteT2V) spec.text = g.external(4, {batch, 120, c.caption_channels}, DType::F32);
    if (c.family == Family::HunyuanDiT) {  // the pipeline's 77 BERT + 256 mT5 tokens (the config's lengths)
      spec.text = g.external(4, {batch, c.text_len, c.text_states_dim}, DType::F32);
      spec.text_t5 = g.external(5, {batch, c.text_len_t5, c.text_states_dim_t5}, DType::F32);
      spec.text_keep = g.external(6, {batch, c.text_len + c.text_len_t5}, DType::F32);
      const Shape table{arch->tokens(arch->input_shape(batch)), c.head_dim()};
      spec.rope_cos = g.external(7, table, DType::F32);
      spec.rope_sin = g.external(8, table, DType::F32);
      if (c.size_cond) spec.image_meta = g.external(9, {batch, 6}, DType::F32);
    }
    if (spec.cache != ForwardSpec::Cache::None) {
      const Shape h = {batch * arch->frames(), arch->tokens(arch->input_shape(batch)), c.hidden_size};
      spec.feature = g.external(3, h, DType::F32);
    }
    ForwardResult r = arch->forward(b, spec);
    if (blocks) *blocks = r.blocks_executed;
    return g;
  };
  const Graph full = run({}, nullptr);
  d.flops = full.flops();
  for (const Graph::Node& n : full.nodes()) {
    if (n.block < 0) continue;
    const std::string& name = full.blocks()[n.block];
    if (d.blocks.empty() || d.blocks.back().name != name) d.blocks.push_back({name, 0});
    d.blocks.back().flops += n.flops;
  }
  const int64_t units = config.depth / d.unit_blocks;
  for (int64_t k = 1; 2 * k <= units; ++k) {
    ForwardSpec spec;
    spec.cache = ForwardSpec::Cache::Restore;
    spec.skip_from = SkipCache::skip_from_for(config, d.unit_blocks, k);
    spec.resume = config.depth - k * d.unit_blocks;
    ModelDescription::CachedStep step;
    step.branch = k;
    step.flops = run(spec, &step.blocks_executed).flops();
    d.cached.push_back(step);
  }
  return d;
}

}  // namespace skipdit
