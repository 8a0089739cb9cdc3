// The native object behind a JS wrapper class (NativeModel, NativeVae, NativeTextEncoder, NativeLatents): the
// wrapper is constructed from an External holding a shared_ptr (JS cannot construct one by itself), keeps the
// pointer until dispose(), and every method first takes it back with live(), which throws SKIPDIT_DISPOSED after.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "convert.h"

namespace skipdit::bindings {

// A new instance of the wrapper class `ctor` owning `object`.
template <class T>
Napi::Object wrap_shared(const Napi::FunctionReference& ctor, Napi::Env env, std::shared_ptr<T> object) {
  auto* holder = new std::shared_ptr<T>(std::move(object));
  auto ext = Napi::External<std::shared_ptr<T>>::New(env, holder, [](Napi::Env, std::shared_ptr<T>* p) { delete p; });
  return ctor.New({ext});
}

// The object a wrapper's constructor was given by wrap_shared; `misuse` (an InvalidArgument error) for a call
// from JavaScript, e.g. "NativeModel is created by loadModel(), not new".
template <class T>
std::shared_ptr<T> unwrap_shared(const Napi::CallbackInfo& info, const char* misuse) {
  if (info.Length() != 1 || !info[0].IsExternal()) throw to_js_error(info.Env(), ErrorKind::InvalidArgument, misuse);
  return *info[0].As<Napi::External<std::shared_ptr<T>>>().Data();
}

// `object`, or a SKIPDIT_DISPOSED error "<what> has been disposed" once the wrapper let it go.
template <class T>
const std::shared_ptr<T>& live_or_throw(Napi::Env env, const std::shared_ptr<T>& object, const char* what) {
  if (!object) {
    Napi::Error e = Napi::Error::New(env, std::string(what) + " has been disposed");
    e.Set("code", Napi::String::New(env, "SKIPDIT_DISPOSED"));
    throw e;
  }
  return object;
}

}  // namespace skipdit::bindings
