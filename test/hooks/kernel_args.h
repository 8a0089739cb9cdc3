// Args: the named numbers and arrays of a test-hook call (runKernel in kernels.cc, runOp in backend_ops.cc),
// each read with a message naming the key when it is missing or misshaped.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "convert.h"

namespace skipdit::bindings {

class Args {
 public:
  explicit Args(Napi::Object o) : o_(o) {}
  int64_t i(const char* key) const {
    Napi::Value v = o_.Get(key);
    if (!v.IsNumber()) throw_invalid(std::string("Expected an integer for ") + key);
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != std::floor(d) || d < 0 || d > 1e9) throw_invalid(std::string("Expected a non-negative integer for ") + key);
    return int64_t(d);
  }
  float f(const char* key) const {
    Napi::Value v = o_.Get(key);
    if (!v.IsNumber()) throw_invalid(std::string("Expected a number for ") + key);
    return v.As<Napi::Number>().FloatValue();
  }
  Napi::Value value(const char* key) const { return o_.Get(key); }
  bool has(const char* key) const { return !o_.Get(key).IsUndefined() && !o_.Get(key).IsNull(); }
  // A copy of the Float32Array `key`, which must hold exactly n floats.
  std::vector<float> floats(const char* key, int64_t n) const {
    Tensor t = tensor_from_f32(o_.Get(key), {n}, key);
    return std::vector<float>(t.f32(), t.f32() + n);
  }
  std::vector<int64_t> labels(const char* key, int64_t n) const {
    Tensor t = tensor_from_labels(o_.Get(key), key);
    if (t.numel() != n) throw_invalid(std::string("Expected ") + std::to_string(n) + " labels for " + key);
    return std::vector<int64_t>(t.i64(), t.i64() + n);
  }

 private:
  Napi::Object o_;
};

}  // namespace skipdit::bindings
