// describeModel(config, batch?): skipdit::describe (native/model/family.h) for JS, the one source of what lib/
// needs to know about an architecture (parameter names and shapes, FLOPs, skip pairs, cached steps).
// Synchronous: it records op graphs without allocating tensors, about 2 ms for DiT-XL. modelParams(config): the
// parameters alone, in time linear in the depth (describe records a graph per cached branch, quadratic), for
// checking a file's tensors against a config that the file itself gave.
#include <cmath>
#include <memory>
#include <vector>

#include "convert.h"
#include "model/family.h"

namespace skipdit::bindings {

namespace {

// Far beyond any real call; keeps the shape products of real-size configs well inside int64.
constexpr double kMaxBatch = 1e6;

ModelConfig config_arg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw_invalid("Expected a config object for config");
  return config_from_js(info[0].As<Napi::Object>());
}

Napi::Array params_to_js(Napi::Env env, const std::vector<ModelDescription::ParamInfo>& list) {
  Napi::Array params = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", list[i].name);
    p.Set("shape", from_shape(env, list[i].shape));
    p.Set("linear", list[i].linear);
    params.Set(i, p);
  }
  return params;
}

Napi::Value ModelParams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  const std::unique_ptr<Architecture> arch = make_architecture(config_arg(info));
  std::vector<ModelDescription::ParamInfo> list;
  for (const auto& p : arch->params().all())
    if (!p->buffer) list.push_back({p->name, p->shape, p->linear_weight && !p->keep_f32});
  return params_to_js(env, list);
  SKIPDIT_JS_CATCH(env)
}

Napi::Value DescribeModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  const ModelConfig config = config_arg(info);
  int64_t batch = 1;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    const double b = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : NAN;
    if (!(b >= 1 && b <= kMaxBatch) || b != std::floor(b))
      throw_invalid("Expected a positive integer (at most 1e6) for batch but received " +
                    (info[1].IsNumber() ? info[1].ToString().Utf8Value() : std::string("a non-number")));
    batch = static_cast<int64_t>(b);
  }
  const ModelDescription d = describe(config, batch);

  Napi::Object out = Napi::Object::New(env);
  out.Set("params", params_to_js(env, d.params));
  Napi::Array blocks = Napi::Array::New(env, d.blocks.size());
  for (size_t i = 0; i < d.blocks.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.blocks[i].name);
    o.Set("flops", d.blocks[i].flops);
    blocks.Set(i, o);
  }
  out.Set("blocks", blocks);
  Napi::Array pairs = Napi::Array::New(env, d.skip_pairs.size());
  for (size_t i = 0; i < d.skip_pairs.size(); ++i) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, double(d.skip_pairs[i].first));
    pair.Set(1u, double(d.skip_pairs[i].second));
    pairs.Set(i, pair);
  }
  out.Set("skipPairs", pairs);
  out.Set("unitBlocks", double(d.unit_blocks));
  out.Set("flops", d.flops);
  Napi::Array cached = Napi::Array::New(env, d.cached.size());
  for (size_t i = 0; i < d.cached.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("branch", double(d.cached[i].branch));
    o.Set("blocksExecuted", double(d.cached[i].blocks_executed));
    o.Set("flops", d.cached[i].flops);
    cached.Set(i, o);
  }
  out.Set("cached", cached);
  return out;
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitDescribe(Napi::Env env, Napi::Object exports) {
  exports.Set("describeModel", Napi::Function::New(env, DescribeModel, "describeModel"));
  exports.Set("modelParams", Napi::Function::New(env, ModelParams, "modelParams"));
}

}  // namespace skipdit::bindings
