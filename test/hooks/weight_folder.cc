// Test hooks of the weight folder source (native/checkpoint/weight_folder.h), synchronous:
//   readWeightFolder(dir, options?)          every exposed tensor through get(): { name, dtype, shape, data (a copy
//                                            of its bytes as returned) }, release() after each
//   holdWeightFolder(dir, options?, { release? })  what a model load does with the bytes: each tensor copied into its own
//                                            fresh allocation (kept, as a model keeps its weights), release() after
//                                            each; { tensors, bytes, seconds } (bench/t5-folder.ts measures the peak RSS)
//   bindWeightFolder(dir, options?, params)  a WeightBinder on the CPU backend taking `params` ({ name, shape }[]),
//                                            then finish(): { taken, weightBytes }, or the binder's Checkpoint error
#include <napi.h>

#include <chrono>
#include <cstring>

#include "convert.h"
#include "model/weights.h"
#include "weight_folder_wrap.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

const char* stored_dtype_code(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
  }
  return "?";
}

Napi::Value ReadWeightFolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  std::unique_ptr<WeightSource> source = open_weight_folder(weight_folder_spec_arg(info, 0));
  const std::vector<std::string> names = source->names();
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    Tensor t = source->get(names[i]);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", names[i]);
    o.Set("dtype", stored_dtype_code(t.dtype()));
    o.Set("shape", from_shape(env, t.shape()));
    o.Set("data", Napi::Buffer<char>::Copy(env, static_cast<const char*>(t.raw()), t.nbytes()));
    source->release(names[i]);
    out.Set(i, o);
  }
  return out;
  SKIPDIT_JS_CATCH(env)
}

Napi::Value HoldWeightFolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<WeightSource> source = open_weight_folder(weight_folder_spec_arg(info, 0));
  // release: false keeps the file pages mapped (what loading without WeightSource::release costs).
  const bool release = !(info.Length() > 2 && info[2].IsObject() && info[2].As<Napi::Object>().Get("release").IsBoolean() &&
                         !info[2].As<Napi::Object>().Get("release").As<Napi::Boolean>().Value());
  std::vector<Tensor> kept;
  uint64_t bytes = 0;
  for (auto& name : source->names()) {
    Tensor view = source->get(name);
    Tensor copy(std::make_shared<HostBuffer>(view.nbytes()), 0, view.dtype(), view.shape());
    std::memcpy(copy.raw(), view.raw(), view.nbytes());
    if (release) source->release(name);
    bytes += copy.nbytes();
    kept.push_back(std::move(copy));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Napi::Object out = Napi::Object::New(env);
  out.Set("tensors", double(kept.size()));
  out.Set("bytes", double(bytes));
  out.Set("seconds", seconds);
  return out;
  SKIPDIT_JS_CATCH(env)
}

Napi::Value BindWeightFolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  WeightFolderSpec spec = weight_folder_spec_arg(info, 0);
  if (info.Length() < 3 || !info[2].IsArray()) throw_invalid("Expected an array of { name, shape } for params");
  Napi::Array params = info[2].As<Napi::Array>();
  std::unique_ptr<WeightSource> source = open_weight_folder(spec);
  std::shared_ptr<Backend> backend = make_backend("cpu");
  WeightBinder binder(*source, *backend);
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < params.Length(); ++i) {
    if (!params.Get(i).IsObject()) throw_invalid("Expected { name, shape } objects in params");
    Napi::Object p = params.Get(i).As<Napi::Object>();
    if (!p.Get("name").IsString()) throw_invalid("Expected a string for params[i].name");
    Tensor t = binder.take(p.Get("name").As<Napi::String>().Utf8Value(), to_shape(p.Get("shape"), "params[i].shape"));
    if (t.defined()) bytes += t.nbytes();
  }
  binder.finish();
  Napi::Object out = Napi::Object::New(env);
  out.Set("taken", double(params.Length()));
  out.Set("weightBytes", double(bytes));
  return out;
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitWeightFolderHooks(Napi::Env env, Napi::Object exports) {
  exports.Set("readWeightFolder", Napi::Function::New(env, ReadWeightFolder, "readWeightFolder"));
  exports.Set("holdWeightFolder", Napi::Function::New(env, HoldWeightFolder, "holdWeightFolder"));
  exports.Set("bindWeightFolder", Napi::Function::New(env, BindWeightFolder, "bindWeightFolder"));
}

}  // namespace skipdit::bindings
