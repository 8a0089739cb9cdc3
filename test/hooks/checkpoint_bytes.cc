// inspectCheckpointBytes(bytes, key): parses a checkpoint held in memory and reads every float tensor once (so
// every bound of the readers is exercised), synchronously. For the checkpoint, hostile-file and fuzz tests,
// which make thousands of files in memory; the product reads files (inspectCheckpoint, bindings/checkpoint_wrap.cc).
#include <napi.h>

#include <vector>

#include "checkpoint/checkpoint.h"
#include "checkpoint_wrap.h"
#include "convert.h"
#include "core/dtype_convert.h"

namespace skipdit::bindings {

namespace {

Napi::Value InspectCheckpointBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 1 || !info[0].IsBuffer()) throw_invalid("Expected a Buffer for bytes");
  Napi::Buffer<unsigned char> buf = info[0].As<Napi::Buffer<unsigned char>>();
  Checkpoint c = open_checkpoint(MappedFile::from_bytes(buf.Data(), buf.Length()), "<buffer>", checkpoint_key_arg(info, 1));
  double checksum = 0;
  for (auto& name : c.source->names()) {
    const std::string dt = c.dtype(name);
    if (dt != "F32" && dt != "F16" && dt != "BF16" && dt != "F64") continue;
    Tensor t = c.source->get(name);
    std::vector<float> f(t.numel());
    if (t.dtype() == DType::F32 || t.dtype() == DType::F16 || t.dtype() == DType::BF16) convert_to_f32(t, f.data());
    for (float x : f) checksum += x;
  }
  Napi::Object out = describe_opened_checkpoint(env, c);
  out.Set("checksum", checksum);
  return out;
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitCheckpointHooks(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectCheckpointBytes", Napi::Function::New(env, InspectCheckpointBytes, "inspectCheckpointBytes"));
}

}  // namespace skipdit::bindings
