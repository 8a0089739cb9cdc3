// inspectWeights(dir, options?) -> Promise<info>: a Hugging Face model folder's weights (native/checkpoint/
// weight_folder.h) described on a pool thread: layout, files, every tensor's dtype / shape / file, what the
// options ignored and folded.
#include "weight_folder_wrap.h"

#include "convert.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

std::vector<std::string> string_list(const Napi::Value& v, const std::string& field) {
  if (!v.IsArray()) throw_invalid("Expected an array of strings for " + field);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) throw_invalid("Expected an array of strings for " + field);
    out.push_back(s.As<Napi::String>().Utf8Value());
  }
  return out;
}

class InspectWeightsWorker final : public TypedWorker {
 public:
  InspectWeightsWorker(Napi::Env env, WeightFolderSpec spec) : TypedWorker(env), spec_(std::move(spec)) {}

 protected:
  void Run() override { folder_ = open_weight_folder(spec_); }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(describe_weight_folder(env, *folder_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(to_js_error(env, ErrorKind::Internal, e.what()).Value());
    }
  }

 private:
  WeightFolderSpec spec_;
  std::unique_ptr<WeightFolder> folder_;
};

Napi::Value InspectWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  auto* worker = new InspectWeightsWorker(env, weight_folder_spec_arg(info, 0));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

WeightFolderSpec weight_folder_spec_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsString()) throw_invalid("Expected a folder path string for dir");
  WeightFolderSpec spec;
  spec.dir = info[i].As<Napi::String>().Utf8Value();
  if (info.Length() <= i + 1 || info[i + 1].IsUndefined() || info[i + 1].IsNull()) return spec;
  if (!info[i + 1].IsObject()) throw_invalid("Expected an object for options");
  Napi::Object o = info[i + 1].As<Napi::Object>();
  if (o.Has("aliases") && !o.Get("aliases").IsUndefined()) {
    Napi::Value v = o.Get("aliases");
    if (!v.IsArray()) throw_invalid("Expected an array of string arrays for options.aliases");
    Napi::Array groups = v.As<Napi::Array>();
    for (uint32_t g = 0; g < groups.Length(); ++g) spec.aliases.push_back(string_list(groups.Get(g), "options.aliases[" + std::to_string(g) + "]"));
  }
  if (o.Has("ignorePrefixes") && !o.Get("ignorePrefixes").IsUndefined())
    spec.ignore_prefixes = string_list(o.Get("ignorePrefixes"), "options.ignorePrefixes");
  if (o.Has("allowExternalLinks") && !o.Get("allowExternalLinks").IsUndefined()) {
    if (!o.Get("allowExternalLinks").IsBoolean()) throw_invalid("Expected a boolean for options.allowExternalLinks");
    spec.allow_external_links = o.Get("allowExternalLinks").As<Napi::Boolean>().Value();
  }
  return spec;
}

Napi::Object describe_weight_folder(Napi::Env env, const WeightFolder& folder) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("dir", folder.dir());
  out.Set("layout", folder.layout_name());
  out.Set("format", folder.format_name());
  out.Set("index", folder.index_file().empty() ? env.Null() : Napi::String::New(env, folder.index_file()));
  Napi::Array meta = Napi::Array::New(env);  // [key, value] pairs: keys come from the file
  uint32_t m = 0;
  for (auto& [k, v] : folder.metadata()) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, k);
    pair.Set(1u, v);
    meta.Set(m++, pair);
  }
  out.Set("metadata", meta);
  Napi::Array files = Napi::Array::New(env, folder.files().size());
  for (size_t i = 0; i < folder.files().size(); ++i) {
    const WeightFolder::File& f = folder.files()[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", f.name);
    o.Set("path", f.path);
    o.Set("present", f.present);
    o.Set("opened", f.opened);
    o.Set("symlink", f.symlink);
    o.Set("bytes", double(f.bytes));
    o.Set("tensors", double(f.tensors));
    o.Set("used", double(f.used));
    files.Set(i, o);
  }
  out.Set("files", files);
  Napi::Array tensors = Napi::Array::New(env, folder.entries().size());
  for (size_t i = 0; i < folder.entries().size(); ++i) {
    const WeightFolder::Entry& e = folder.entries()[i];
    Napi::Object t = Napi::Object::New(env);
    t.Set("name", e.name);
    t.Set("dtype", e.dtype);
    t.Set("shape", from_shape(env, e.shape));
    t.Set("bytes", double(e.bytes));
    t.Set("file", folder.files()[e.file].name);
    if (e.stored != e.name) t.Set("stored", e.stored);
    if (!e.duplicates.empty()) {
      Napi::Array d = Napi::Array::New(env, e.duplicates.size());
      for (size_t j = 0; j < e.duplicates.size(); ++j) d.Set(j, e.duplicates[j]);
      t.Set("duplicates", d);
    }
    tensors.Set(i, t);
  }
  out.Set("tensors", tensors);
  out.Set("totalBytes", double(folder.total_bytes()));
  Napi::Array ignored = Napi::Array::New(env, folder.ignored().size());
  for (size_t i = 0; i < folder.ignored().size(); ++i) ignored.Set(i, folder.ignored()[i]);
  out.Set("ignored", ignored);
  out.Set("ignoredBytes", double(folder.ignored_bytes()));
  return out;
}

void InitWeightFolder(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectWeights", Napi::Function::New(env, InspectWeights, "inspectWeights"));
}

}  // namespace skipdit::bindings
