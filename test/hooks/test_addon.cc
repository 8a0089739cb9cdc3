// The test addon (CMake target skipdit_test -> build/Release/skipdit_test.node, not built by default, never
// shipped): entry points that exist only for the tests, each reaching into the core below the product API.
// It links the same skipdit_core and product binding objects as skipdit.node; test/helpers/test-native.ts
// loads it, the product addon (bindings/addon.cc) exports none of these.
//   runKernel / kernelNames   one CPU kernel of native/cpu/ops on copies of arrays (kernels.cc)
//   runOp / opNames           one Backend op on 'cpu' / 'cuda' (or profiled) at a precision (backend_ops.cc)
//   inspectCheckpointBytes    a checkpoint parsed from memory, every tensor read (checkpoint_bytes.cc)
//   graphPlan / graphStaleRead  a forward graph recorded and planned; a stale read refused (graph_plan.cc)
//   readWeightFolder / holdWeightFolder / bindWeightFolder  a model folder's weights read, kept, bound (weight_folder.cc)
//   cudaSelfTest              the CUDA device layer alone: upload, one kernel, download ('' when it works)
#include <napi.h>

#include "cuda/cuda_device.h"

namespace skipdit::bindings {

Napi::Object InitKernels(Napi::Env env, Napi::Object exports);      // kernels.cc
void InitBackendOps(Napi::Env env, Napi::Object exports);           // backend_ops.cc
void InitCheckpointHooks(Napi::Env env, Napi::Object exports);      // checkpoint_bytes.cc
void InitGraphHooks(Napi::Env env, Napi::Object exports);           // graph_plan.cc
void InitWeightFolderHooks(Napi::Env env, Napi::Object exports);    // weight_folder.cc

namespace {

Napi::Value CudaSelfTest(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), cuda::self_test()); }

Napi::Object InitTestAddon(Napi::Env env, Napi::Object exports) {
  InitKernels(env, exports);
  InitBackendOps(env, exports);
  InitCheckpointHooks(env, exports);
  InitGraphHooks(env, exports);
  InitWeightFolderHooks(env, exports);
  exports.Set("cudaSelfTest", Napi::Function::New(env, CudaSelfTest, "cudaSelfTest"));
  return exports;
}

}  // namespace

}  // namespace skipdit::bindings

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return skipdit::bindings::InitTestAddon(env, exports); }

NODE_API_MODULE(skipdit_test, InitAddon)
