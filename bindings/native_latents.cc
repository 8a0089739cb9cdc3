#include "native_latents.h"

#include "convert.h"
#include "handle.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

Napi::FunctionReference& constructor() {
  static Napi::FunctionReference ref;
  return ref;
}

}  // namespace

Napi::Function NativeLatents::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeLatents",
                                   {InstanceMethod<&NativeLatents::Read>("read"),
                                    InstanceMethod<&NativeLatents::Write>("write"),
                                    InstanceMethod<&NativeLatents::ReadAsync>("readAsync"),
                                    InstanceMethod<&NativeLatents::WriteAsync>("writeAsync"),
                                    InstanceMethod<&NativeLatents::Shape>("shape"),
                                    InstanceMethod<&NativeLatents::Dispose>("dispose")});
  constructor() = Napi::Persistent(cls);
  constructor().SuppressDestruct();
  exports.Set("NativeLatents", cls);
  return cls;
}

Napi::Object NativeLatents::Create(Napi::Env env, std::shared_ptr<LatentState> state) {
  return wrap_shared(constructor(), env, std::move(state));
}

std::shared_ptr<LatentState> NativeLatents::StateOf(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor().Value())) return nullptr;
  NativeLatents* self = Napi::ObjectWrap<NativeLatents>::Unwrap(value.As<Napi::Object>());
  return self->live(value.Env());
}

NativeLatents::NativeLatents(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLatents>(info) {
  state_ = unwrap_shared<LatentState>(info, "NativeLatents is created by NativeModel.createLatents(), not new");
  reported_bytes_ = static_cast<int64_t>(state_->x.nbytes());
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_bytes_);
}

std::shared_ptr<LatentState> NativeLatents::live(Napi::Env env) const {
  return live_or_throw(env, state_, "The latents object");
}

namespace {

// The model's lock for a synchronous read / write on the JS thread: taken only if free. Waiting would block the
// event loop for as long as a step of the model runs (lib/latents.ts refuses those calls earlier, with the same
// message, while a call of the model is running; this keeps the guarantee for any other holder of the lock).
std::unique_lock<std::mutex> lock_now(Model& model, const char* what) {
  std::unique_lock<std::mutex> lock(model.mutex(), std::try_to_lock);
  if (!lock.owns_lock())
    throw_invalid(std::string("Cannot ") + what + " the latents while a call of their model is running (it would block " +
                  "the event loop): await it, or use " + what + "Async()");
  return lock;
}

}  // namespace

// read() -> Float32Array: a host copy; fails at once while the model is busy (readAsync() waits on a pool thread).
Napi::Value NativeLatents::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LatentState> s = live(env);
  SKIPDIT_JS_TRY
  Napi::Float32Array out = Napi::Float32Array::New(env, s->x.numel());
  auto lock = lock_now(*s->model, "read");
  s->model->download_into(s->x, out.Data());
  return out;
  SKIPDIT_JS_CATCH(env)
}

// write(data: Float32Array): replaces the values (same element count); fails at once while the model is busy.
Napi::Value NativeLatents::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LatentState> s = live(env);
  SKIPDIT_JS_TRY
  if (info.Length() < 1) throw_invalid("write(data: Float32Array)");
  Tensor host = tensor_from_f32(info[0], s->x.shape(), "latents");
  auto lock = lock_now(*s->model, "write");
  s->model->backend().copy(host, s->x);
  return env.Undefined();
  SKIPDIT_JS_CATCH(env)
}

namespace {

// readAsync() / writeAsync(): the copy on a pool thread, which may wait for the model's lock.
class LatentsCopyWorker final : public TypedWorker {
 public:
  LatentsCopyWorker(Napi::Env env, std::shared_ptr<LatentState> state, Tensor host, bool write)
      : TypedWorker(env), state_(std::move(state)), host_(std::move(host)), write_(write) {}

 protected:
  void Run() override {
    Model& model = *state_->model;
    if (!write_) host_ = Tensor::host(DType::F32, state_->x.shape());
    std::lock_guard<std::mutex> lock(model.mutex());
    if (write_) model.backend().copy(host_, state_->x);
    else model.backend().download(state_->x, host_.f32());
  }
  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(write_ ? env.Undefined() : Napi::Value(to_f32_array(env, host_.f32(), host_.numel())));
  }

 private:
  std::shared_ptr<LatentState> state_;
  Tensor host_;
  bool write_;
};

}  // namespace

// readAsync() -> Promise<Float32Array>
Napi::Value NativeLatents::ReadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LatentState> s = live(env);
  SKIPDIT_JS_TRY
  return (new LatentsCopyWorker(env, std::move(s), Tensor(), false))->queue();
  SKIPDIT_JS_CATCH(env)
}

// writeAsync(data: Float32Array) -> Promise<void>: the values are copied now, written when the worker runs.
Napi::Value NativeLatents::WriteAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LatentState> s = live(env);
  SKIPDIT_JS_TRY
  if (info.Length() < 1) throw_invalid("writeAsync(data: Float32Array)");
  Tensor host = tensor_from_f32(info[0], s->x.shape(), "latents");
  return (new LatentsCopyWorker(env, std::move(s), std::move(host), true))->queue();
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
