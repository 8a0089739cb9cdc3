// Checkpoint inspection and conversion: inspectCheckpoint(path, key), inspectCheckpointBytes(buffer, key),
// convertCheckpoint(in, out, key, metadata) -> Promise<bytes>.
#include <napi.h>

#include "checkpoint/checkpoint.h"
#include "convert.h"
#include "worker.h"
#include "core/dtype_convert.h"

#include <algorithm>

namespace skipdit::bindings {

namespace {

constexpr int kMaxSummaryDepth = 8;
constexpr size_t kMaxSummaryItems = 64;

// A bounded JSON-like view of a pickled value (tensors summarised), for showing training-dict extras such as
// `args` (argparse.Namespace) and optimizer settings. Never executes anything; depth and size are capped.
Napi::Value summarize(Napi::Env env, const PyValue* v, int depth) {
  using K = PyValue::Kind;
  if (depth > kMaxSummaryDepth) return Napi::String::New(env, "...");
  switch (v->kind) {
    case K::None: return env.Null();
    case K::Bool: return Napi::Boolean::New(env, v->boolean);
    case K::Int: return Napi::Number::New(env, double(v->integer));
    case K::Float: return Napi::Number::New(env, v->real);
    case K::Str: return Napi::String::New(env, v->text.substr(0, 1000));
    case K::Bytes: return Napi::String::New(env, "<" + std::to_string(v->text.size()) + " bytes>");
    case K::Global: return Napi::String::New(env, "<" + v->text + ">");
    case K::Storage: return Napi::String::New(env, "<storage " + v->text + ">");
    case K::Tensor: return Napi::String::New(env, "<tensor " + v->text + shape_str(v->shape) + ">");
    case K::Tuple:
    case K::List:
    case K::Set: {
      Napi::Array a = Napi::Array::New(env);
      for (size_t i = 0; i < v->items.size() && i < kMaxSummaryItems; ++i) a.Set(i, summarize(env, v->items[i], depth + 1));
      if (v->items.size() > kMaxSummaryItems) a.Set(kMaxSummaryItems, "... " + std::to_string(v->items.size() - kMaxSummaryItems) + " more");
      return a;
    }
    case K::Dict:
    case K::Object: {
      Napi::Object o = Napi::Object::New(env);
      if (v->kind == K::Object) o.Set("__class__", v->text);
      size_t n = 0;
      for (auto& [k, val] : v->entries) {
        if (n++ >= kMaxSummaryItems) {
          o.Set("...", std::to_string(v->entries.size() - kMaxSummaryItems) + " more");
          break;
        }
        std::string key = k->kind == K::Str ? k->text : k->kind == K::Int ? std::to_string(k->integer) : std::string("<") + k->kind_name() + ">";
        o.Set(key, summarize(env, val, depth + 1));
      }
      return o;
    }
  }
  return env.Undefined();
}

std::string key_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return "";
  if (!info[i].IsString()) throw_invalid("Expected a string for key");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Object describe_checkpoint(Napi::Env env, const Checkpoint& c) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("format", c.format_name());
  Napi::Object tensors = Napi::Object::New(env);
  for (auto& name : c.source->names()) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("dtype", c.dtype(name));
    t.Set("shape", from_shape(env, c.source->shape(name)));
    tensors.Set(name, t);
  }
  out.Set("tensors", tensors);
  Napi::Object meta = Napi::Object::New(env);
  if (c.safetensors)
    for (auto& [k, v] : c.safetensors->file().metadata()) meta.Set(k, v);
  out.Set("metadata", meta);
  if (c.torch) {
    out.Set("picked", c.torch->picked());
    out.Set("rootFolder", c.torch->root_folder());
    Napi::Array cands = Napi::Array::New(env);
    for (size_t i = 0; i < c.torch->candidates().size(); ++i) cands.Set(i, c.torch->candidates()[i]);
    out.Set("candidates", cands);
    // Everything at the top level except the state dicts themselves: args, epoch, optimizer settings...
    const PyValue* root = c.torch->root();
    Napi::Object extras = Napi::Object::New(env);
    if (root->kind == PyValue::Kind::Dict && c.torch->picked() != "root") {
      for (auto& [k, v] : root->entries) {
        if (k->kind != PyValue::Kind::Str) continue;
        const bool is_state_dict = std::find(c.torch->candidates().begin(), c.torch->candidates().end(), k->text) != c.torch->candidates().end();
        extras.Set(k->text, is_state_dict ? Napi::String::New(env, "<state dict>") : summarize(env, v, 0));
      }
    }
    out.Set("extras", extras);
  }
  return out;
}

Napi::Value InspectCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 1 || !info[0].IsString()) throw_invalid("Expected a file path string for path");
  Checkpoint c = open_checkpoint_file(info[0].As<Napi::String>().Utf8Value(), key_arg(info, 1));
  return describe_checkpoint(env, c);
  SKIPDIT_JS_CATCH(env)
}

// Parses a checkpoint held in memory and reads every tensor once (so every bound is exercised): for tests.
Napi::Value InspectCheckpointBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 1 || !info[0].IsBuffer()) throw_invalid("Expected a Buffer for bytes");
  Napi::Buffer<unsigned char> buf = info[0].As<Napi::Buffer<unsigned char>>();
  Checkpoint c = open_checkpoint(MappedFile::from_bytes(buf.Data(), buf.Length()), "<buffer>", key_arg(info, 1));
  double checksum = 0;
  for (auto& name : c.source->names()) {
    const std::string dt = c.dtype(name);
    if (dt != "F32" && dt != "F16" && dt != "BF16" && dt != "F64") continue;
    Tensor t = c.source->get(name);
    std::vector<float> f(t.numel());
    if (t.dtype() == DType::F32 || t.dtype() == DType::F16 || t.dtype() == DType::BF16) convert_to_f32(t, f.data());
    for (float x : f) checksum += x;
  }
  Napi::Object out = describe_checkpoint(env, c);
  out.Set("checksum", checksum);
  return out;
  SKIPDIT_JS_CATCH(env)
}

class ConvertWorker final : public TypedWorker {
 public:
  ConvertWorker(Napi::Env env, std::string in, std::string out, std::string key, std::map<std::string, std::string> meta)
      : TypedWorker(env), in_(std::move(in)), out_(std::move(out)), key_(std::move(key)), meta_(std::move(meta)) {}

 protected:
  void Run() override {
    Checkpoint c = open_checkpoint_file(in_, key_);
    bytes_ = write_safetensors(out_, c, meta_);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), double(bytes_))); }

 private:
  std::string in_, out_, key_;
  std::map<std::string, std::string> meta_;
  uint64_t bytes_ = 0;
};

Napi::Value ConvertCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[3].IsObject())
    throw_invalid("convertCheckpoint(input: string, output: string, key: string | null, metadata: object)");
  std::map<std::string, std::string> meta;
  Napi::Object m = info[3].As<Napi::Object>();
  Napi::Array keys = m.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (!m.Get(k).IsString()) throw_invalid("Expected string values in metadata");
    meta[k] = m.Get(k).As<Napi::String>().Utf8Value();
  }
  auto* worker = new ConvertWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                                   key_arg(info, 2), std::move(meta));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitCheckpoints(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectCheckpoint", Napi::Function::New(env, InspectCheckpoint, "inspectCheckpoint"));
  exports.Set("inspectCheckpointBytes", Napi::Function::New(env, InspectCheckpointBytes, "inspectCheckpointBytes"));
  exports.Set("convertCheckpoint", Napi::Function::New(env, ConvertCheckpoint, "convertCheckpoint"));
}

}  // namespace skipdit::bindings
