// NativeLatents: a sampler state held in a model's backend memory (device memory on CUDA), created by
// NativeModel.createLatents and advanced in place by NativeModel.sampleStep, so the latents stay on the device
// between steps unless read.
#pragma once
#include <napi.h>

#include <memory>

#include "model/model.h"

namespace skipdit::bindings {

// The tensor and the model whose backend holds it (kept alive by in-flight steps after dispose()).
struct LatentState {
  std::shared_ptr<Model> model;
  Tensor x;
};

class NativeLatents : public Napi::ObjectWrap<NativeLatents> {
 public:
  static Napi::Function Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<LatentState> state);
  // The state behind a JS value; nullptr when it is not a NativeLatents. Throws DisposedError when disposed.
  static std::shared_ptr<LatentState> StateOf(const Napi::Value& value);

  explicit NativeLatents(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<LatentState> live(Napi::Env env) const;
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value ReadAsync(const Napi::CallbackInfo& info);
  Napi::Value WriteAsync(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<LatentState> state_;
  int64_t reported_bytes_ = 0;
};

}  // namespace skipdit::bindings
