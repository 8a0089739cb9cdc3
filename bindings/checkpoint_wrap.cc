// Checkpoint inspection and conversion: inspectCheckpoint(path, key) -> Promise<info>,
// convertCheckpoint(in, out, key, metadata, bf16Names?) -> Promise<bytes>.
#include "checkpoint_wrap.h"

#include <napi.h>

#include "checkpoint/checkpoint.h"
#include "convert.h"
#include "worker.h"

#include <set>
#include <unordered_map>
#include <vector>

namespace skipdit::bindings {

namespace {

constexpr int kMaxSummaryDepth = 8;
constexpr size_t kMaxSummaryItems = 64;    // per container
constexpr size_t kMaxSummaryNodes = 10000;  // for all the extras together
constexpr size_t kMaxSummaryText = 1000;   // of a string or key

// A JSON-like value, built off the JS thread and turned into JS values on it (see to_js).
struct Summary {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string text;
  std::vector<std::string> keys;  // Object
  std::vector<Summary> items;     // Array, Object

  static Summary string(std::string s) {
    Summary v;
    v.type = Type::String;
    v.text = std::move(s);
    return v;
  }
};

// A bounded view of a pickled value (tensors summarised), for showing training-dict extras such as `args`
// (argparse.Namespace) and optimizer settings. Never executes anything. The value graph can share
// containers (pickle memo) and even be cyclic, so a container is summarised once; later references to it
// become "<shared: see PATH>". With the depth, per-container and total node limits, the summary of any
// file is small and quick (without them, a 2 KB file of nested shared lists expands exponentially).
class Summarizer {
 public:
  bool exhausted() const { return nodes_ >= kMaxSummaryNodes; }

  Summary value(const PyValue* v, const std::string& path, int depth) {
    using K = PyValue::Kind;
    ++nodes_;
    Summary out;
    switch (v->kind) {
      case K::None: return out;
      case K::Bool: out.type = Summary::Type::Bool, out.boolean = v->boolean; return out;
      case K::Int: out.type = Summary::Type::Number, out.number = double(v->integer); return out;
      case K::Float: out.type = Summary::Type::Number, out.number = v->real; return out;
      case K::Str: return Summary::string(v->text.substr(0, kMaxSummaryText));
      case K::Bytes: return Summary::string("<" + std::to_string(v->text.size()) + " bytes>");
      case K::Global: return Summary::string("<" + v->text + ">");
      case K::Storage: return Summary::string("<storage " + v->text + ">");
      case K::Tensor: return Summary::string("<tensor " + v->text + shape_str(v->shape) + ">");
      default: break;
    }
    const bool sequence = v->kind == K::Tuple || v->kind == K::List || v->kind == K::Set;
    const size_t size = sequence ? v->items.size() : v->entries.size();
    if (depth > kMaxSummaryDepth && size > 0) return Summary::string("...");
    if (size > 0) {
      auto [it, first] = seen_.emplace(v, path);
      if (!first) return Summary::string("<shared: see " + it->second + ">");
    }
    if (sequence) {
      out.type = Summary::Type::Array;
      for (size_t i = 0; i < size; ++i) {
        if (i == kMaxSummaryItems || exhausted()) {
          out.items.push_back(Summary::string("... " + std::to_string(size - i) + " more"));
          break;
        }
        out.items.push_back(value(v->items[i], path + "[" + std::to_string(i) + "]", depth + 1));
      }
      return out;
    }
    out.type = Summary::Type::Object;
    if (v->kind == K::Object) out.keys.push_back("__class__"), out.items.push_back(Summary::string(v->text));
    for (size_t i = 0; i < size; ++i) {
      if (i == kMaxSummaryItems || exhausted()) {
        out.keys.push_back("...");
        out.items.push_back(Summary::string(std::to_string(size - i) + " more"));
        break;
      }
      const PyValue* k = v->entries[i].first;
      std::string key = k->kind == K::Str ? k->text.substr(0, kMaxSummaryText)
                        : k->kind == K::Int ? std::to_string(k->integer)
                                            : std::string("<") + k->kind_name() + ">";
      std::string child = path + "." + key.substr(0, 64);
      out.items.push_back(value(v->entries[i].second, child, depth + 1));
      out.keys.push_back(std::move(key));
    }
    return out;
  }

 private:
  size_t nodes_ = 0;
  std::unordered_map<const PyValue*, std::string> seen_;  // containers summarised, by where
};

// Everything at the top level of a training dict except the state dicts themselves: args, epoch, optimizer
// settings... (an Object summary; Null for safetensors files and bare state dicts).
Summary summarize_extras(const Checkpoint& c) {
  Summary extras;
  if (!c.torch) return extras;
  extras.type = Summary::Type::Object;
  const PyValue* root = c.torch->root();
  if (root->kind != PyValue::Kind::Dict || c.torch->picked() == "root") return extras;
  const std::set<std::string> state_dicts(c.torch->candidates().begin(), c.torch->candidates().end());
  Summarizer summarizer;
  for (size_t i = 0; i < root->entries.size(); ++i) {
    auto& [k, v] = root->entries[i];
    if (k->kind != PyValue::Kind::Str) continue;
    if (summarizer.exhausted()) {
      extras.keys.push_back("...");
      extras.items.push_back(Summary::string(std::to_string(root->entries.size() - i) + " more entries"));
      break;
    }
    extras.keys.push_back(k->text.substr(0, kMaxSummaryText));
    extras.items.push_back(state_dicts.count(k->text) ? Summary::string("<state dict>") : summarizer.value(v, k->text.substr(0, 64), 0));
  }
  return extras;
}

Napi::Value to_js(Napi::Env env, const Summary& s) {
  switch (s.type) {
    case Summary::Type::Null: return env.Null();
    case Summary::Type::Bool: return Napi::Boolean::New(env, s.boolean);
    case Summary::Type::Number: return Napi::Number::New(env, s.number);
    case Summary::Type::String: return Napi::String::New(env, s.text);
    case Summary::Type::Array: {
      Napi::Array a = Napi::Array::New(env, s.items.size());
      for (size_t i = 0; i < s.items.size(); ++i) a.Set(i, to_js(env, s.items[i]));
      return a;
    }
    case Summary::Type::Object: {
      Napi::Object o = Napi::Object::New(env);
      for (size_t i = 0; i < s.items.size(); ++i) o.Set(s.keys[i], to_js(env, s.items[i]));
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

Napi::Object describe_checkpoint(Napi::Env env, const Checkpoint& c, const Summary& extras) {
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
    out.Set("extras", to_js(env, extras));
  }
  return out;
}

// Opening and summarising run on a pool thread: a big or hostile file never blocks the JS thread.
class InspectWorker final : public TypedWorker {
 public:
  InspectWorker(Napi::Env env, std::string path, std::string key) : TypedWorker(env), path_(std::move(path)), key_(std::move(key)) {}

 protected:
  void Run() override {
    checkpoint_ = open_checkpoint_file(path_, key_);
    extras_ = summarize_extras(checkpoint_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(describe_checkpoint(env, checkpoint_, extras_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(to_js_error(env, ErrorKind::Internal, e.what()).Value());
    }
  }

 private:
  std::string path_, key_;
  Checkpoint checkpoint_;
  Summary extras_;
};

Napi::Value InspectCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 1 || !info[0].IsString()) throw_invalid("Expected a file path string for path");
  auto* worker = new InspectWorker(env, info[0].As<Napi::String>().Utf8Value(), key_arg(info, 1));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

class ConvertWorker final : public TypedWorker {
 public:
  ConvertWorker(Napi::Env env, std::string in, std::string out, std::string key, std::map<std::string, std::string> meta,
                std::set<std::string> bf16)
      : TypedWorker(env), in_(std::move(in)), out_(std::move(out)), key_(std::move(key)), meta_(std::move(meta)), bf16_(std::move(bf16)) {}

 protected:
  void Run() override {
    Checkpoint c = open_checkpoint_file(in_, key_);
    bytes_ = write_safetensors(out_, c, meta_, bf16_);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), double(bytes_))); }

 private:
  std::string in_, out_, key_;
  std::map<std::string, std::string> meta_;
  std::set<std::string> bf16_;
  uint64_t bytes_ = 0;
};

Napi::Value ConvertCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[3].IsObject())
    throw_invalid("convertCheckpoint(input: string, output: string, key: string | null, metadata: object, bf16Names?: string[])");
  std::map<std::string, std::string> meta;
  Napi::Object m = info[3].As<Napi::Object>();
  Napi::Array keys = m.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    if (!m.Get(k).IsString()) throw_invalid("Expected string values in metadata");
    meta[k] = m.Get(k).As<Napi::String>().Utf8Value();
  }
  std::set<std::string> bf16;
  if (info.Length() > 4 && info[4].IsArray()) {
    Napi::Array names = info[4].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      if (!names.Get(i).IsString()) throw_invalid("Expected strings in bf16Names");
      bf16.insert(names.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  auto* worker = new ConvertWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                                   key_arg(info, 2), std::move(meta), std::move(bf16));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

std::string checkpoint_key_arg(const Napi::CallbackInfo& info, size_t i) { return key_arg(info, i); }

Napi::Object describe_opened_checkpoint(Napi::Env env, const Checkpoint& c) {
  return describe_checkpoint(env, c, summarize_extras(c));
}

void InitCheckpoints(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectCheckpoint", Napi::Function::New(env, InspectCheckpoint, "inspectCheckpoint"));
  exports.Set("convertCheckpoint", Napi::Function::New(env, ConvertCheckpoint, "convertCheckpoint"));
}

}  // namespace skipdit::bindings
