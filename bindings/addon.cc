// Registers the native exports; each wrapped piece lives in its own file. The declared types of these
// exports are in binding.d.ts (test/binding.test.ts checks they match). Only the API that lib/ uses: the
// test-only entry points (runKernel, runOp, inspectCheckpointBytes, cudaSelfTest) are in a separate test addon
// built from test/hooks/ (CMake target skipdit_test), never in this one.
#include <napi.h>

#include "convert.h"
#include "core/thread_pool.h"
#include "cpu/ops/gemm.h"
#include "cpu/peak.h"
#include "cuda/cuda_device.h"
#include "native_abort.h"
#include "native_cache.h"
#include "native_latents.h"
#include "native_model.h"

namespace skipdit::bindings {

void InitCheckpoints(Napi::Env env, Napi::Object exports);       // checkpoint_wrap.cc
void InitVae(Napi::Env env, Napi::Object exports);               // native_vae.cc
void InitDescribe(Napi::Env env, Napi::Object exports);          // describe.cc
void InitTextEncoders(Napi::Env env, Napi::Object exports);      // native_text_encoder.cc
void InitWeightFolder(Napi::Env env, Napi::Object exports);      // weight_folder_wrap.cc

namespace {

// backends() -> [{ name, available, reason?, devices? , ...}]
Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  Napi::Array list = Napi::Array::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("name", "cpu");
  cpu.Set("available", true);
  cpu.Set("threads", ThreadPool::global().size());
  cpu.Set("gemm", cpu::gemm_kernel_name());
  cpu.Set("gemmBf16", cpu::gemm_bf16_kernel_name());
  list.Set(0u, cpu);

  const cuda::Availability& a = cuda::availability();
  Napi::Object gpu = Napi::Object::New(env);
  gpu.Set("name", "cuda");
  gpu.Set("compiled", a.compiled);
  gpu.Set("deviceAvailable", a.available);
  // Every model and VAE op has a CUDA kernel: a usable device is all the backend needs.
  gpu.Set("available", a.available);
  if (!a.available) gpu.Set("reason", a.reason);
  gpu.Set("driverVersion", a.driver_version);
  gpu.Set("runtimeVersion", a.runtime_version);
  Napi::Array archs = Napi::Array::New(env);
  for (size_t i = 0; i < a.architectures.size(); ++i) archs.Set(i, a.architectures[i]);
  gpu.Set("architectures", archs);
  Napi::Array devices = Napi::Array::New(env);
  for (size_t i = 0; i < a.devices.size(); ++i) {
    const cuda::DeviceInfo& d = a.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
    o.Set("totalMemory", double(d.total_memory));
    o.Set("multiprocessors", d.multiprocessors);
    devices.Set(i, o);
  }
  gpu.Set("devices", devices);
  list.Set(1u, gpu);
  return list;
  SKIPDIT_JS_CATCH(env)
}

// measurePeak(seconds) -> { gflops, threads, isa, bf16Gflops }: the fp32 FMA peak of all pool threads, and the
// AVX-512 BF16 dot-product peak where the bf16 GEMM uses it (else 0), for benchmarks.
Napi::Value MeasurePeak(const Napi::CallbackInfo& info) {
  SKIPDIT_JS_TRY
  const double seconds = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0.3;
  cpu::PeakResult r = cpu::measure_fma_peak(seconds > 0 && seconds < 10 ? seconds : 0.3);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("gflops", r.gflops);
  o.Set("threads", r.threads);
  o.Set("isa", r.isa);
  o.Set("bf16Gflops", r.bf16_gflops);
  return o;
  SKIPDIT_JS_CATCH(info.Env())
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  NativeModel::Init(env, exports);
  NativeCache::Init(env, exports);
  NativeAbortFlag::Init(env, exports);
  NativeLatents::Init(env, exports);
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  exports.Set("measurePeak", Napi::Function::New(env, MeasurePeak, "measurePeak"));
  InitCheckpoints(env, exports);
  InitVae(env, exports);
  InitDescribe(env, exports);
  InitTextEncoders(env, exports);
  InitWeightFolder(env, exports);
  return exports;
}

}  // namespace skipdit::bindings

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return skipdit::bindings::Init(env, exports); }

NODE_API_MODULE(skipdit, InitAddon)
