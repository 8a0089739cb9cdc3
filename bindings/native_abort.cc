#include "native_abort.h"

#include "convert.h"

namespace skipdit::bindings {

namespace {
Napi::FunctionReference& constructor() {
  static Napi::FunctionReference ref;
  return ref;
}
}  // namespace

Napi::Function NativeAbortFlag::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeAbortFlag",
                                   {InstanceMethod<&NativeAbortFlag::Abort>("abort"),
                                    InstanceAccessor<&NativeAbortFlag::Aborted>("aborted")});
  constructor() = Napi::Persistent(cls);
  constructor().SuppressDestruct();
  exports.Set("NativeAbortFlag", cls);
  return cls;
}

AbortFlag NativeAbortFlag::FlagOf(const Napi::Object& options, const char* key) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(constructor().Value()))
    throw_invalid(std::string("Expected a NativeAbortFlag for options.") + key);
  return Napi::ObjectWrap<NativeAbortFlag>::Unwrap(v.As<Napi::Object>())->flag_;
}

NativeAbortFlag::NativeAbortFlag(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeAbortFlag>(info) {}

void NativeAbortFlag::Abort(const Napi::CallbackInfo&) { flag_->store(true, std::memory_order_relaxed); }

Napi::Value NativeAbortFlag::Aborted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), flag_->load(std::memory_order_relaxed));
}

}  // namespace skipdit::bindings
