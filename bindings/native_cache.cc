#include "native_cache.h"

#include <cmath>

#include "convert.h"

namespace skipdit::bindings {

namespace {

Napi::FunctionReference& constructor() {
  static Napi::FunctionReference ref;
  return ref;
}

struct Pending {
  std::shared_ptr<SkipCache> cache;
  std::shared_ptr<Model> model;
};

double number_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_invalid(std::string("Expected a number for cache.") + key);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_invalid(std::string("Expected a finite number for cache.") + key);
  return d;
}

}  // namespace

Napi::Function NativeCache::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeCache",
                                   {InstanceMethod<&NativeCache::Stats>("stats"),
                                    InstanceMethod<&NativeCache::Policy>("policy"),
                                    InstanceMethod<&NativeCache::SetPolicy>("setPolicy"),
                                    InstanceMethod<&NativeCache::Reset>("reset")});
  constructor() = Napi::Persistent(cls);
  constructor().SuppressDestruct();
  exports.Set("NativeCache", cls);
  return cls;
}

CachePolicy NativeCache::PolicyFromJs(const Napi::Value& value) {
  if (!value.IsObject()) throw_invalid("Expected a cache policy object");
  Napi::Object o = value.As<Napi::Object>();
  CachePolicy p;
  const double interval = number_field(o, "interval"), branch = number_field(o, "branch");
  if (interval != std::floor(interval) || branch != std::floor(branch))
    throw_invalid("Expected integers for cache.interval and cache.branch");
  p.interval = static_cast<int64_t>(interval);
  p.branch = static_cast<int64_t>(branch);
  p.start = number_field(o, "start");
  p.stop = number_field(o, "stop");
  p.stop_inclusive = o.Get("stopInclusive").ToBoolean();
  p.full_when_empty = o.Get("fullWhenEmpty").ToBoolean();
  p.measure = o.Has("measure") && o.Get("measure").ToBoolean();
  if (o.Has("threshold") && !o.Get("threshold").IsUndefined()) {  // adaptive
    p.adaptive = true;
    p.threshold = number_field(o, "threshold");
    const double max_skip = number_field(o, "maxSkip");
    if (max_skip != std::floor(max_skip)) throw_invalid("Expected an integer for cache.maxSkip");
    p.max_skip = static_cast<int64_t>(max_skip);
  }
  return p;
}

Napi::Object NativeCache::Create(Napi::Env env, std::shared_ptr<Model> model, const CachePolicy& policy) {
  auto* pending = new Pending{std::make_shared<SkipCache>(model->config(), model->architecture().unit_blocks(), policy, model.get()), model};
  auto ext = Napi::External<Pending>::New(env, pending, [](Napi::Env, Pending* p) { delete p; });
  return constructor().New({ext});
}

std::shared_ptr<SkipCache> NativeCache::CacheOf(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor().Value())) return nullptr;
  return Napi::ObjectWrap<NativeCache>::Unwrap(value.As<Napi::Object>())->cache_;
}

NativeCache::NativeCache(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCache>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw to_js_error(info.Env(), ErrorKind::InvalidArgument, "NativeCache is created by NativeModel.createCache(), not new");
  Pending* p = info[0].As<Napi::External<Pending>>().Data();
  cache_ = p->cache;
  model_ = p->model;
}

Napi::Value NativeCache::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CacheStats s = cache_->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("calls", double(s.calls));
  o.Set("fullSteps", double(s.full_steps));
  o.Set("cachedSteps", double(s.cached_steps));
  o.Set("blocksExecuted", double(s.blocks_executed));
  o.Set("blocksTotal", double(s.blocks_total));
  o.Set("count", double(cache_->count()));
  o.Set("hasFeature", cache_->has_feature());
  return o;
}

Napi::Value NativeCache::Policy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CachePolicy p = cache_->policy();
  Napi::Object o = Napi::Object::New(env);
  o.Set("interval", double(p.interval));
  o.Set("branch", double(p.branch));
  o.Set("start", p.start);
  o.Set("stop", p.stop);
  o.Set("stopInclusive", p.stop_inclusive);
  o.Set("fullWhenEmpty", p.full_when_empty);
  o.Set("measure", p.measure);
  if (p.adaptive) {
    o.Set("threshold", p.threshold);
    o.Set("maxSkip", double(p.max_skip));
  }
  return o;
}

Napi::Value NativeCache::SetPolicy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  cache_->set_policy(PolicyFromJs(info[0]));
  return env.Undefined();
  SKIPDIT_JS_CATCH(env)
}

Napi::Value NativeCache::Reset(const Napi::CallbackInfo& info) {
  cache_->reset();
  return info.Env().Undefined();
}

}  // namespace skipdit::bindings
