// NativeCache: the JS handle of a SkipCache (one per pipeline / sampling run).
#pragma once
#include <napi.h>

#include <memory>

#include "model/model.h"
#include "model/skip_cache.h"

namespace skipdit::bindings {

class NativeCache : public Napi::ObjectWrap<NativeCache> {
 public:
  static Napi::Function Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<Model> model, const CachePolicy& policy);
  // The cache behind a JS value, or nullptr when it is not a NativeCache.
  static std::shared_ptr<SkipCache> CacheOf(const Napi::Value& value);
  static CachePolicy PolicyFromJs(const Napi::Value& value);

  explicit NativeCache(const Napi::CallbackInfo& info);

 private:
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Policy(const Napi::CallbackInfo& info);
  Napi::Value SetPolicy(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);

  std::shared_ptr<SkipCache> cache_;
  std::shared_ptr<Model> model_;  // keeps the owner alive while the cache exists
};

}  // namespace skipdit::bindings
