// Shared pieces of the async bindings: a Promise-returning worker that keeps the kind of a skipdit::Error
// for the JS error code, and backend selection by name.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "backend/backend.h"
#include "convert.h"

namespace skipdit::bindings {

// Base for workers whose Execute may throw a skipdit::Error: keeps its kind for the JS error code.
class TypedWorker : public Napi::AsyncWorker {
 public:
  explicit TypedWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  // Queues the work and returns its promise (the worker deletes itself once settled).
  Napi::Promise queue() {
    Napi::Promise p = promise();
    Queue();
    return p;
  }

 protected:
  virtual void Run() = 0;
  void Execute() override {
    try {
      Run();
    } catch (const Error& e) {
      kind_ = e.kind();
      SetError(e.what());
    } catch (const std::exception& e) {
      kind_ = ErrorKind::Internal;
      SetError(e.what());
    }
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(to_js_error(Env(), kind_, e.Message()).Value());
  }
  Napi::Promise::Deferred deferred_;
  ErrorKind kind_ = ErrorKind::Internal;
};


// "cpu", or "cuda" (BackendUnavailable with the reason until the CUDA ops exist), storing linear weights in
// `precision` (InvalidArgument where the backend does not support it).
std::shared_ptr<Backend> make_backend(const std::string& name, Precision precision = Precision::F32);

}  // namespace skipdit::bindings
