// runOp(backend, dtype, name, spec): one op of the op list (graph/op_list.h) as a one-node graph on the named
// backend ('cpu' | 'cuda') at the given precision. Generic over the list: the op's parameters are read from
// spec.params by their field names, its inputs from spec.inputs by their kInputs names, so a new op needs no code
// here. spec = { params: { name: number }, inputs: { name: { data: Float32Array | Int32Array (int64 ids),
// shape: number[], weight?: true (a prepare_linear constant), act?: true (converted to the activation type) } },
// out?: 'f32' | 'act' | 'operand' }. Returns the output downloaded as float32. 'profiled:cpu' / 'profiled:cuda'
// run with the op profiler attached (its counts must not change the result). Synchronous; test addon only.
#include <napi.h>

#include "backend/backend.h"
#include "graph/profiler.h"
#include "convert.h"
#include "kernel_args.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

template <class T>
void set_field(T& field, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber() && !v.IsBoolean()) throw_invalid("Expected a number for params." + name);
  const double d = v.IsBoolean() ? (v.ToBoolean() ? 1 : 0) : v.As<Napi::Number>().DoubleValue();
  if constexpr (std::is_enum_v<T>) field = static_cast<T>(static_cast<int>(d));
  else field = static_cast<T>(d);
}

Napi::Value RunOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsObject())
    throw_invalid("runOp(backend: string, dtype: string, name: string, spec: object)");
  const std::string name = info[2].As<Napi::String>().Utf8Value();
  OpParams op;
  if (!make_op(name, op)) throw_invalid("Expected a backend op name for name but received '" + name + "'");
  std::string backend_name = info[0].As<Napi::String>().Utf8Value();
  const std::string profiled_prefix = "profiled:";
  const bool profiled = backend_name.rfind(profiled_prefix, 0) == 0;
  if (profiled) backend_name.erase(0, profiled_prefix.size());
  std::shared_ptr<Backend> backend = make_backend(backend_name, parse_precision(info[1].As<Napi::String>().Utf8Value()));
  Backend& be = *backend;
  Napi::Object spec = info[3].As<Napi::Object>();
  Napi::Object params = spec.Get("params").IsObject() ? spec.Get("params").As<Napi::Object>() : Napi::Object::New(env);
  Napi::Object inputs = spec.Get("inputs").IsObject() ? spec.Get("inputs").As<Napi::Object>() : Napi::Object::New(env);

  Graph g(&be);
  GraphBindings bind;
  std::vector<ValueId> ids;
  std::visit(
      [&](auto& o) {
        using Op = std::decay_t<decltype(o)>;
        if constexpr (!std::is_same_v<Op, std::monostate>) {
          o.fields([&](const char* field, auto& value) {
            if (params.Has(field)) set_field(value, params.Get(field), field);
          });
          for (const char* input : Op::kInputs) {
            std::string key = input;
            const bool optional = key.back() == '?';
            if (optional) key.pop_back();
            if (!inputs.Has(key) || inputs.Get(key).IsUndefined()) {
              if (!optional) throw_invalid("Expected inputs." + key + " for op " + name);
              ids.push_back(kNoValue);
              continue;
            }
            Args a(inputs.Get(key).As<Napi::Object>());
            Napi::Value shape_js = a.value("shape");
            if (!shape_js.IsArray()) throw_invalid("Expected inputs." + key + ".shape: number[]");
            Shape shape;
            Napi::Array arr = shape_js.As<Napi::Array>();
            for (uint32_t i = 0; i < arr.Length(); ++i) shape.push_back(arr.Get(i).As<Napi::Number>().Int64Value());
            if (a.value("data").IsTypedArray() && a.value("data").As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
              std::vector<int64_t> v = a.labels("data", shape_numel(shape));
              Tensor host = Tensor::host(DType::I64, shape);
              std::copy(v.begin(), v.end(), static_cast<int64_t*>(host.raw()));
              bind.externals.push_back(host);
              ids.push_back(g.external(int32_t(bind.externals.size() - 1), shape, DType::I64));
              continue;
            }
            std::vector<float> v = a.floats("data", shape_numel(shape));
            Tensor host = Tensor::host(DType::F32, shape);
            std::copy(v.begin(), v.end(), host.f32());
            Tensor t = be.upload_f32(host);
            if (a.has("weight") && a.i("weight")) {
              ids.push_back(g.constant(be.prepare_linear(t), shape));
              continue;
            }
            if (a.has("act") && a.i("act") && be.activation_dtype() != DType::F32) {
              Tensor low = be.empty(be.activation_dtype(), shape);
              be.convert(t, low);
              t = low;
            }
            bind.externals.push_back(t);
            ids.push_back(g.external(int32_t(bind.externals.size() - 1), shape, t.dtype()));
          }
        }
      },
      op);
  const std::string out = spec.Get("out").IsString() ? spec.Get("out").As<Napi::String>().Utf8Value() : "f32";
  const DType out_dtype = out == "act" ? be.activation_dtype() : out == "operand" ? be.operand_dtype() : DType::F32;
  const ValueId result = g.add_op(op, ids, out_dtype);
  g.output(result);
  g.finalize();
  bind.arena = g.arena_bytes() > 0 ? be.empty(DType::F32, {int64_t((g.arena_bytes() + 3) / 4)}) : Tensor();
  OpProfiler profiler;
  ComputeHooks hooks;
  if (profiled) hooks.observer = &profiler;
  be.compute(g, bind, hooks);
  const Tensor y = g.tensor(result, bind);
  std::vector<float> host(y.numel());
  be.download(y, host.data());
  if (profiled) {
    std::vector<OpProfile> p = profiler.snapshot();
    if (p.size() != 1 || p[0].op != name || p[0].calls != 1) throw_invalid("runOp: the profiler did not see one " + name);
  }
  return to_f32_array(env, host.data(), host.size());
  SKIPDIT_JS_CATCH(env)
}

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (const std::string& name : op_names()) a.Set(i++, name);
  return a;
}

}  // namespace

void InitBackendOps(Napi::Env env, Napi::Object exports) {
  exports.Set("runOp", Napi::Function::New(env, RunOp, "runOp"));
  exports.Set("opNames", Napi::Function::New(env, OpNames, "opNames"));
}

}  // namespace skipdit::bindings
