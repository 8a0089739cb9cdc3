#include "convert.h"

#include <cmath>
#include <cstring>

namespace skipdit::bindings {

std::string error_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument: return "SKIPDIT_INVALID_ARGUMENT";
    case ErrorKind::Checkpoint: return "SKIPDIT_CHECKPOINT";
    case ErrorKind::BackendUnavailable: return "SKIPDIT_BACKEND_UNAVAILABLE";
    case ErrorKind::Internal: return "SKIPDIT_INTERNAL";
    case ErrorKind::Aborted: return "SKIPDIT_ABORTED";
  }
  return "SKIPDIT_INTERNAL";
}

Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, error_code(kind)));
  return err;
}

void throw_invalid(const std::string& message) { fail(ErrorKind::InvalidArgument, message); }

Shape to_shape(const Napi::Value& v, const std::string& field) {
  if (!v.IsArray()) throw_invalid("Expected an array of dimensions for " + field);
  Napi::Array a = v.As<Napi::Array>();
  Shape s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    double n = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 0) || n != std::floor(n) || n > 1e12)
      throw_invalid("Expected non-negative integer dimensions for " + field);
    s.push_back(static_cast<int64_t>(n));
  }
  if (s.size() > 8) throw_invalid("Expected at most 8 dimensions for " + field);
  return s;
}

Napi::Array from_shape(Napi::Env env, const Shape& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) a.Set(i, Napi::Number::New(env, double(shape[i])));
  return a;
}

Tensor tensor_from_f32(const Napi::Value& v, const Shape& shape, const std::string& field) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_invalid("Expected a Float32Array for " + field);
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (static_cast<int64_t>(a.ElementLength()) != shape_numel(shape))
    throw_invalid("Expected " + std::to_string(shape_numel(shape)) + " elements (shape " + shape_str(shape) + ") for " +
                  field + " but received " + std::to_string(a.ElementLength()));
  Tensor t = Tensor::host(DType::F32, shape);
  if (a.ElementLength()) std::memcpy(t.raw(), a.Data(), a.ElementLength() * sizeof(float));
  return t;
}

Tensor tensor_from_labels(const Napi::Value& v, const std::string& field) {
  if (!v.IsTypedArray()) throw_invalid("Expected an Int32Array or BigInt64Array for " + field);
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  const int64_t n = static_cast<int64_t>(ta.ElementLength());
  Tensor t = Tensor::host(DType::I64, {n});
  int64_t* out = static_cast<int64_t*>(t.raw());
  if (ta.TypedArrayType() == napi_int32_array) {
    const int32_t* p = v.As<Napi::Int32Array>().Data();
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  } else if (ta.TypedArrayType() == napi_bigint64_array) {
    std::memcpy(out, v.As<Napi::TypedArrayOf<int64_t>>().Data(), n * sizeof(int64_t));
  } else {
    throw_invalid("Expected an Int32Array or BigInt64Array for " + field);
  }
  return t;
}

Napi::Float32Array to_f32_array(Napi::Env env, const float* data, size_t n) {
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  if (n) std::memcpy(a.Data(), data, n * sizeof(float));
  return a;
}

namespace {
int64_t int_field(const Napi::Object& o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw_invalid(std::string("Expected an integer for config.") + key);
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != std::floor(d) || std::fabs(d) > 1e9) throw_invalid(std::string("Expected an integer for config.") + key);
  return static_cast<int64_t>(d);
}
bool bool_field(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw_invalid(std::string("Expected a boolean for config.") + key);
  return v.As<Napi::Boolean>().Value();
}
}  // namespace

ModelConfig config_from_js(const Napi::Object& o) {
  ModelConfig c;
  Napi::Value family = o.Get("family");
  std::string f = family.IsString() ? family.As<Napi::String>().Utf8Value() : "";
  if (f != "dit" && f != "latte" && f != "latte-t2v" && f != "hunyuan-dit")
    throw_invalid("Expected 'dit', 'latte', 'latte-t2v' or 'hunyuan-dit' for config.family");
  c.family = f == "dit" ? Family::DiT : f == "latte" ? Family::Latte : f == "latte-t2v" ? Family::LatteT2V : Family::HunyuanDiT;
  c.skip = bool_field(o, "skip", true);
  c.input_size = int_field(o, "input_size", c.input_size);
  c.patch_size = int_field(o, "patch_size", c.patch_size);
  c.in_channels = int_field(o, "in_channels", c.in_channels);
  c.hidden_size = int_field(o, "hidden_size", c.hidden_size);
  c.depth = int_field(o, "depth", c.depth);
  c.num_heads = int_field(o, "num_heads", c.num_heads);
  Napi::Value ratio = o.Get("mlp_ratio");
  if (!ratio.IsUndefined()) {
    if (!ratio.IsNumber()) throw_invalid("Expected a number for config.mlp_ratio");
    c.mlp_ratio = ratio.As<Napi::Number>().DoubleValue();
  }
  c.num_classes = int_field(o, "num_classes", c.num_classes);
  c.class_dropout = bool_field(o, "class_dropout", c.class_dropout);
  c.learn_sigma = bool_field(o, "learn_sigma", c.learn_sigma);
  const bool video = c.family == Family::Latte || c.family == Family::LatteT2V;
  c.num_frames = int_field(o, "num_frames", video ? 16 : 1);
  c.caption_channels = int_field(o, "caption_channels", c.family == Family::LatteT2V ? 4096 : 0);
  if (c.family == Family::HunyuanDiT) {  // v1.2: BERT 77 x 1024, mT5 256 x 2048
    c.text_states_dim = int_field(o, "text_states_dim", 1024);
    c.text_len = int_field(o, "text_len", 77);
    c.text_states_dim_t5 = int_field(o, "text_states_dim_t5", 2048);
    c.text_len_t5 = int_field(o, "text_len_t5", 256);
    c.size_cond = bool_field(o, "size_cond", false);
    c.style_cond = bool_field(o, "style_cond", false);
  }
  c.validate();
  return c;
}

Napi::Object config_to_js(Napi::Env env, const ModelConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", c.family == Family::DiT      ? "dit"
                 : c.family == Family::Latte  ? "latte"
                 : c.family == Family::LatteT2V ? "latte-t2v"
                                                : "hunyuan-dit");
  o.Set("skip", c.skip);
  o.Set("input_size", double(c.input_size));
  o.Set("patch_size", double(c.patch_size));
  o.Set("in_channels", double(c.in_channels));
  o.Set("hidden_size", double(c.hidden_size));
  o.Set("depth", double(c.depth));
  o.Set("num_heads", double(c.num_heads));
  o.Set("mlp_ratio", c.mlp_ratio);
  o.Set("num_classes", double(c.num_classes));
  o.Set("class_dropout", c.class_dropout);
  o.Set("learn_sigma", c.learn_sigma);
  o.Set("num_frames", double(c.num_frames));
  if (c.family == Family::LatteT2V) o.Set("caption_channels", double(c.caption_channels));
  if (c.family == Family::HunyuanDiT) {
    o.Set("text_states_dim", double(c.text_states_dim));
    o.Set("text_len", double(c.text_len));
    o.Set("text_states_dim_t5", double(c.text_states_dim_t5));
    o.Set("text_len_t5", double(c.text_len_t5));
    o.Set("size_cond", c.size_cond);
    o.Set("style_cond", c.style_cond);
  }
  return o;
}

SamplerUpdate sampler_update_from_js(const Napi::Value& v, const std::string& field) {
  if (!v.IsObject()) throw_invalid("Expected a sampler update object for " + field);
  Napi::Object o = v.As<Napi::Object>();
  auto number = [&](const char* key) {
    Napi::Value n = o.Get(key);
    if (!n.IsNumber() || !std::isfinite(n.As<Napi::Number>().DoubleValue()))
      throw_invalid("Expected a finite number for " + field + "." + key);
    return n.As<Napi::Number>().FloatValue();  // the caller's values are float32 already: exact
  };
  SamplerUpdate u;
  const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
  if (kind == "ddim-diffusers" || kind == "ddpm-diffusers") {
    const Napi::Value p = o.Get("predictionType");
    const std::string prediction = p.IsUndefined() ? "epsilon" : p.IsString() ? p.As<Napi::String>().Utf8Value() : "";
    if (prediction != "epsilon" && prediction != "v_prediction")
      throw_invalid("Expected 'epsilon' or 'v_prediction' for " + field + ".predictionType");
    u.v_prediction = prediction == "v_prediction";
    u.sqrt_ac = number("sqrtAlphaT");
    u.sqrt_1m_ac = number("sqrtOneMinusAlphaT");
    u.clip_range = number("clipRange");
    if (u.sqrt_ac <= 0 || u.clip_range < 0) throw_invalid("Expected sqrtAlphaT > 0 and clipRange >= 0 for " + field);
    if (kind == "ddim-diffusers") {
      u.kind = SamplerUpdate::Kind::DiffusersDDIM;
      u.sqrt_ac_prev = number("sqrtAlphaPrev");
      u.sqrt_1m_ac_prev = number("sqrtOneMinusAlphaPrev");
    } else {
      u.kind = SamplerUpdate::Kind::DiffusersDDPM;
      u.coef1 = number("predOriginalSampleCoeff");
      u.coef2 = number("currentSampleCoeff");
      u.noise_scale = number("stdDev");
      const Napi::Value add = o.Get("addNoise");
      if (!add.IsBoolean()) throw_invalid("Expected a boolean for " + field + ".addNoise");
      u.last = !add.As<Napi::Boolean>().Value();
    }
    return u;
  }
  if (kind != "ddim" && kind != "ddpm")
    throw_invalid("Expected 'ddim', 'ddpm', 'ddim-diffusers' or 'ddpm-diffusers' for " + field + ".kind");
  u.sqrt_recip_ac = number("sqrtRecipAlphasCumprod");
  u.sqrt_recipm1_ac = number("sqrtRecipm1AlphasCumprod");
  if (kind == "ddim") {
    u.kind = SamplerUpdate::Kind::DDIM;
    u.sqrt_ac_prev = number("sqrtAlphasCumprodPrev");
    u.dir_coef = number("dirCoef");
    u.noise_scale = number("noiseScale");
  } else {
    u.kind = SamplerUpdate::Kind::DDPM;
    u.coef1 = number("meanCoef1");
    u.coef2 = number("meanCoef2");
    u.min_log = number("minLog");
    u.max_log = number("maxLog");
    u.fixed_log = number("fixedLog");
    u.learned_range = o.Get("learnedRange").ToBoolean();
    u.last = o.Get("last").ToBoolean();
  }
  return u;
}

}  // namespace skipdit::bindings
