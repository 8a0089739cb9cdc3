// NativeModel: the JS handle of a skipdit::Model. Loading and forwards run on libuv worker threads.
#pragma once
#include <napi.h>

#include <memory>

#include "model/model.h"

namespace skipdit::bindings {

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Init(Napi::Env env, Napi::Object exports);
  // loadModel(path, config, backend) -> Promise<NativeModel>
  static Napi::Value Load(const Napi::CallbackInfo& info);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<Model> model);

  explicit NativeModel(const Napi::CallbackInfo& info);
  ~NativeModel() override;

 private:
  std::shared_ptr<Model> live(Napi::Env env);  // throws SKIPDIT_DISPOSED after dispose()
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value CreateLatents(const Napi::CallbackInfo& info);
  Napi::Value SampleStep(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value CreateCache(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Profile(const Napi::CallbackInfo& info);

  std::shared_ptr<Model> model_;
  int64_t reported_bytes_ = 0;
};

}  // namespace skipdit::bindings
