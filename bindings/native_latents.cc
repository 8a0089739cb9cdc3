#include "native_latents.h"

#include "convert.h"

namespace skipdit::bindings {

namespace {

Napi::FunctionReference& constructor() {
  static Napi::FunctionReference ref;
  return ref;
}

Napi::Error disposed_error(Napi::Env env) {
  Napi::Error e = Napi::Error::New(env, "The latents object has been disposed");
  e.Set("code", Napi::String::New(env, "SKIPDIT_DISPOSED"));
  return e;
}

}  // namespace

Napi::Function NativeLatents::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeLatents",
                                   {InstanceMethod<&NativeLatents::Read>("read"),
                                    InstanceMethod<&NativeLatents::Write>("write"),
                                    InstanceMethod<&NativeLatents::Shape>("shape"),
                                    InstanceMethod<&NativeLatents::Dispose>("dispose")});
  constructor() = Napi::Persistent(cls);
  constructor().SuppressDestruct();
  exports.Set("NativeLatents", cls);
  return cls;
}

Napi::Object NativeLatents::Create(Napi::Env env, std::shared_ptr<LatentState> state) {
  auto* holder = new std::shared_ptr<LatentState>(std::move(state));
  auto ext = Napi::External<std::shared_ptr<LatentState>>::New(env, holder,
                                                               [](Napi::Env, std::shared_ptr<LatentState>* p) { delete p; });
  return constructor().New({ext});
}

std::shared_ptr<LatentState> NativeLatents::StateOf(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor().Value())) return nullptr;
  NativeLatents* self = Napi::ObjectWrap<NativeLatents>::Unwrap(value.As<Napi::Object>());
  return self->live(value.Env());
}

NativeLatents::NativeLatents(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLatents>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw to_js_error(info.Env(), ErrorKind::InvalidArgument, "NativeLatents is created by NativeModel.createLatents(), not new");
  state_ = *info[0].As<Napi::External<std::shared_ptr<LatentState>>>().Data();
  reported_bytes_ = static_cast<int64_t>(state_->x.nbytes());
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_bytes_);
}

std::shared_ptr<LatentState> NativeLatents::live(Napi::Env env) const {
  if (!state_) throw disposed_error(env);
  return state_;
}

// read() -> Float32Array: a host copy (waits for a step of the same model in flight: they share the backend).
Napi::Value NativeLatents::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LatentState> s = live(env);
  SKIPDIT_JS_TRY
  Napi::Float32Array out = Napi::Float32Array::New(env, s->x.numel());
  std::lock_guard<std::mutex> lock(s->model->mutex());
  s->model->download_into(s->x, out.Data());
  return out;
  SKIPDIT_JS_CATCH(env)
}

// write(data: Float32Array): replaces the values (same element count).
Napi::Value NativeLatents::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LatentState> s = live(env);
  SKIPDIT_JS_TRY
  if (info.Length() < 1) throw_invalid("write(data: Float32Array)");
  Tensor host = tensor_from_f32(info[0], s->x.shape(), "latents");
  std::lock_guard<std::mutex> lock(s->model->mutex());
  s->model->backend().copy(host, s->x);
  return env.Undefined();
  SKIPDIT_JS_CATCH(env)
}

Napi::Value NativeLatents::Shape(const Napi::CallbackInfo& info) {
  return from_shape(info.Env(), live(info.Env())->x.shape());
}

Napi::Value NativeLatents::Dispose(const Napi::CallbackInfo& info) {
  if (state_) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -reported_bytes_);
    state_.reset();  // freed now, or when a step in flight finishes
  }
  return info.Env().Undefined();
}

}  // namespace skipdit::bindings
