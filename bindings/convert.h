// Glue between JS values and native types: typed errors, typed arrays, tensors, configs.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "core/tensor.h"
#include "model/config.h"

namespace skipdit::bindings {

// JS error carrying `code` = "SKIPDIT_<KIND>" so lib/errors.ts can rethrow the matching class.
Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& message);
std::string error_code(ErrorKind kind);
[[noreturn]] void throw_invalid(const std::string& message);  // as skipdit::Error(InvalidArgument)

// Throws a JS error for a caught C++ exception (skipdit::Error keeps its kind).
#define SKIPDIT_JS_TRY try {
#define SKIPDIT_JS_CATCH(env)                                                                 \
  }                                                                                           \
  catch (const ::skipdit::Error& e) {                                                         \
    throw ::skipdit::bindings::to_js_error(env, e.kind(), e.what());                          \
  }                                                                                           \
  catch (const Napi::Error&) {                                                                \
    throw;                                                                                    \
  }                                                                                           \
  catch (const std::exception& e) {                                                           \
    throw ::skipdit::bindings::to_js_error(env, ::skipdit::ErrorKind::Internal, e.what());    \
  }

Shape to_shape(const Napi::Value& v, const std::string& field);
Napi::Array from_shape(Napi::Env env, const Shape& shape);
// Copies a Float32Array into a new host f32 tensor of `shape` (length must match).
Tensor tensor_from_f32(const Napi::Value& v, const Shape& shape, const std::string& field);
// Copies an Int32Array / BigInt64Array / Float64Array of integers into a new host i64 tensor.
Tensor tensor_from_labels(const Napi::Value& v, const std::string& field);
Napi::Float32Array to_f32_array(Napi::Env env, const float* data, size_t n);

ModelConfig config_from_js(const Napi::Object& o);
// The per-step scalars of lib/samplers.ts `coefficients()` (NativeSamplerUpdate in binding.d.ts).
SamplerUpdate sampler_update_from_js(const Napi::Value& v, const std::string& field);
Napi::Object config_to_js(Napi::Env env, const ModelConfig& c);

}  // namespace skipdit::bindings
