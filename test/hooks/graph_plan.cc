// graphPlan(config, batch, variant): the forward graph of a config recorded (no weights, no memory) and planned,
// with what the tests check of the planner: the arena against the bytes of every intermediate, and every pair of
// intermediates whose lifetimes overlap placed in disjoint bytes (`overlaps` counts the pairs that are not).
// variant: 'full' | 'cached' (Skip-Cache branch 1). graphStaleRead(): a graph that reads a value after an
// in-place node changed its memory must refuse to record (the error is thrown). Test addon only.
#include <napi.h>

#include "convert.h"
#include "model/family.h"

namespace skipdit::bindings {

namespace {

Napi::Value GraphPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsNumber() || !info[2].IsString())
    throw_invalid("graphPlan(config: object, batch: number, variant: 'full' | 'cached')");
  const ModelConfig config = config_from_js(info[0].As<Napi::Object>());
  const int64_t batch = info[1].As<Napi::Number>().Int64Value();
  const bool cached = info[2].As<Napi::String>().Utf8Value() == "cached";
  std::unique_ptr<Architecture> arch = make_architecture(config);
  Graph g(nullptr);
  GraphBuilder b(g);
  ForwardSpec spec;
  spec.x = g.external(0, arch->input_shape(batch), DType::F32);
  spec.t = g.external(1, {batch}, DType::F32);
  if (config.conditional()) spec.y = g.external(2, {batch}, DType::I64);
  if (cached) {
    spec.cache = ForwardSpec::Cache::Restore;
    spec.skip_from = arch->unit_blocks();
    spec.resume = config.depth - arch->unit_blocks();
    spec.feature = g.external(3, {batch * arch->frames(), config.tokens(), config.hidden_size}, DType::F32);
  }
  const ValueId out = arch->forward(b, spec).out;
  g.output(out);
  g.finalize();
  struct Item {
    int32_t first, last;
    size_t begin, end;
  };
  std::vector<Item> items;
  double value_bytes = 0;
  for (const Graph::Value& v : g.values()) {
    if (v.kind != Graph::Kind::Internal || v.first < 0) continue;
    items.push_back({v.first, v.last, v.arena_offset, v.arena_offset + v.bytes()});
    value_bytes += double(v.bytes());
  }
  int64_t overlaps = 0, outside = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].end > g.arena_bytes()) outside++;
    for (size_t j = i + 1; j < items.size(); ++j) {
      const bool live_together = items[i].first <= items[j].last && items[j].first <= items[i].last;
      const bool share_bytes = items[i].begin < items[j].end && items[j].begin < items[i].end;
      if (live_together && share_bytes) overlaps++;
    }
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("nodes", double(g.nodes().size()));
  r.Set("intermediates", double(items.size()));
  r.Set("arenaBytes", double(g.arena_bytes()));
  r.Set("valueBytes", value_bytes);
  r.Set("overlaps", double(overlaps));
  r.Set("outside", double(outside));
  r.Set("hash", std::to_string(g.hash()));
  r.Set("flops", g.flops());
  return r;
  SKIPDIT_JS_CATCH(env)
}

Napi::Value GraphStaleRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  Graph g(nullptr);
  const ValueId x = g.external(0, {4}, DType::F32);
  const ValueId h = g.add(ops::Copy{}, {x});
  g.add(ops::Add{}, {h, x});  // h += x in place: the value h is stale from here
  g.add(ops::Silu{}, {h});    // reads the stale value: refused
  return env.Undefined();
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitGraphHooks(Napi::Env env, Napi::Object exports) {
  exports.Set("graphPlan", Napi::Function::New(env, GraphPlan, "graphPlan"));
  exports.Set("graphStaleRead", Napi::Function::New(env, GraphStaleRead, "graphStaleRead"));
}

}  // namespace skipdit::bindings
