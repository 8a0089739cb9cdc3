// NativeAbortFlag: the JS half of core/abort.h. `new NativeAbortFlag()`, passed as `abort` in a call's options;
// lib/abort.ts calls abort() when the caller's AbortSignal fires, and the worker stops at its next check.
#pragma once
#include <napi.h>

#include "core/abort.h"

namespace skipdit::bindings {

class NativeAbortFlag : public Napi::ObjectWrap<NativeAbortFlag> {
 public:
  static Napi::Function Init(Napi::Env env, Napi::Object exports);
  // The flag behind options[key], or null when it is absent (undefined / null); InvalidArgument otherwise.
  static AbortFlag FlagOf(const Napi::Object& options, const char* key = "abort");

  explicit NativeAbortFlag(const Napi::CallbackInfo& info);

 private:
  void Abort(const Napi::CallbackInfo& info);
  Napi::Value Aborted(const Napi::CallbackInfo& info);

  AbortFlag flag_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace skipdit::bindings
