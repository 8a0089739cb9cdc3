#include "native_model.h"

#include "handle.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "convert.h"
#include "native_abort.h"
#include "native_cache.h"
#include "native_latents.h"
#include "progress.h"
#include "worker.h"
#include "graph/profiler.h"
#include "checkpoint/checkpoint.h"
#include "cuda/cuda_backend.h"

namespace skipdit::bindings {

namespace {

Napi::FunctionReference& constructor() {
  static Napi::FunctionReference ref;
  return ref;
}

}  // namespace

std::shared_ptr<Backend> make_backend(const std::string& name, Precision precision) {
  if (name == "cpu") {
    if (precision == Precision::F16)
      fail(ErrorKind::InvalidArgument, "Expected 'float32' or 'bfloat16' for dtype on the cpu backend but received 'float16'");
    return make_cpu_backend(precision);
  }
  if (name == "cuda") return make_cuda_backend(precision);  // BackendUnavailable with the reason when it cannot run
  fail(ErrorKind::InvalidArgument, "Expected 'cpu' or 'cuda' for backend but received '" + name + "'");
}

namespace {

class LoadWorker final : public TypedWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, ModelConfig config, std::string backend, Precision precision,
             std::string key, bool profile, size_t workspace_retain, size_t workspace_max, AbortFlag abort,
             std::unique_ptr<ProgressReporter> progress)
      : TypedWorker(env), path_(std::move(path)), config_(config), backend_(std::move(backend)), precision_(precision),
        key_(std::move(key)), profile_(profile), workspace_retain_(workspace_retain), workspace_max_(workspace_max),
        abort_(std::move(abort)), progress_(std::move(progress)) {}

 protected:
  void Run() override {
    std::shared_ptr<Backend> backend = make_backend(backend_, precision_);
    Checkpoint checkpoint = open_checkpoint_file(path_, key_);
    model_ = std::make_shared<Model>(config_, backend, *checkpoint.source, LoadHooks{abort_.get(), progress_->fn()});
    model_->set_workspace_limits(workspace_retain_, workspace_max_);
    if (profile_) model_->set_profiler(std::make_shared<OpProfiler>());
  }
  void OnOK() override { deferred_.Resolve(NativeModel::Wrap(Env(), model_)); }

 private:
  std::string path_;
  ModelConfig config_;
  std::string backend_;
  Precision precision_;
  std::string key_;
  bool profile_;
  size_t workspace_retain_, workspace_max_;
  AbortFlag abort_;
  std::unique_ptr<ProgressReporter> progress_;
  std::shared_ptr<Model> model_;
};

// The options both forward() and sampleStep() take: guidance and a Skip-Cache state.
struct CallOptions {
  Guidance guidance;  // channels 0: no guidance
  std::shared_ptr<SkipCache> cache;
  bool force_full = false;
  AbortFlag abort;  // held by the worker while it runs

  CallOptions(const Napi::Object& opts, const Model* model) {
    if (opts.Has("cfgScale") && !opts.Get("cfgScale").IsUndefined()) {
      if (!opts.Get("cfgScale").IsNumber()) throw_invalid("Expected a number for cfgScale");
      guidance.scale = opts.Get("cfgScale").As<Napi::Number>().FloatValue();
      if (!opts.Get("cfgChannels").IsNumber()) throw_invalid("Expected an integer for cfgChannels");
      guidance.channels = opts.Get("cfgChannels").As<Napi::Number>().Int64Value();
      if (guidance.channels < 1) throw_invalid("Expected a positive integer for cfgChannels");
    }
    if (opts.Has("cache") && !opts.Get("cache").IsUndefined() && !opts.Get("cache").IsNull()) {
      cache = NativeCache::CacheOf(opts.Get("cache"));
      if (!cache) throw_invalid("Expected a cache from model.createCache() for options.cache");
      if (cache->owner() != model) throw_invalid("Expected a cache created by this model for options.cache");
    }
    force_full = opts.Get("forceFull").ToBoolean();
    abort = NativeAbortFlag::FlagOf(opts);
  }
  ForwardOptions forward_options(Taps* taps) const {
    ForwardOptions o;
    o.taps = taps;
    o.cache = cache.get();
    o.force_full = force_full;
    o.abort = abort.get();
    return o;
  }
};

// t (B float32 timesteps) and y (labels, or null / undefined for none) of a call on B rows.
std::pair<Tensor, Tensor> timesteps_and_labels(const Napi::Value& t, const Napi::Value& y, int64_t B) {
  Tensor labels;
  if (!y.IsNull() && !y.IsUndefined()) labels = tensor_from_labels(y, "y");
  return {tensor_from_f32(t, {B}, "t"), labels};
}

// LatteT2V: options.text / options.textMask = { data: Float32Array, shape: number[] } into in.text / in.text_mask.
void read_text_options(const Napi::Object& opts, ForwardInputs& in) {
  auto tensor_option = [&](const char* key) {
    Napi::Value v = opts.Get(key);
    if (v.IsUndefined() || v.IsNull()) return Tensor();
    if (!v.IsObject()) throw_invalid(std::string("Expected { data, shape } for options.") + key);
    Napi::Object o = v.As<Napi::Object>();
    const std::string field = std::string("options.") + key;
    return tensor_from_f32(o.Get("data"), to_shape(o.Get("shape"), field + ".shape"), field + ".data");
  };
  in.text = tensor_option("text");
  in.text_mask = tensor_option("textMask");
  in.text_t5 = tensor_option("textT5");  // HunyuanDiT: the mT5 states and their mask
  in.text_t5_mask = tensor_option("textT5Mask");
  in.image_meta = tensor_option("imageMeta");  // HunyuanDiT v1.1: image_meta_size (B, 6)
}

void set_report(Napi::Object& result, const ForwardReport& report) {
  result.Set("cached", report.cached);
  result.Set("blocksExecuted", double(report.blocks_executed));
  result.Set("graph", report.graph);
  if (!std::isnan(report.drift)) result.Set("drift", report.drift);
  if (!std::isnan(report.accumulated)) result.Set("accumulated", report.accumulated);
}

class ForwardWorker final : public TypedWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<Model> model, ForwardInputs inputs, CallOptions call, bool taps)
      : TypedWorker(env), model_(std::move(model)), inputs_(std::move(inputs)), call_(std::move(call)),
        want_taps_(taps) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> lock(model_->mutex());  // one forward per model at a time
    const ForwardOptions options = call_.forward_options(want_taps_ ? &taps_ : nullptr);
    out_ = call_.guidance.channels > 0
               ? model_->forward_with_cfg(inputs_, call_.guidance.scale, call_.guidance.channels, options, &report_)
               : model_->forward(inputs_, options, &report_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("data", to_f32_array(env, out_.f32(), out_.numel()));
    result.Set("shape", from_shape(env, out_.shape()));
    set_report(result, report_);
    if (want_taps_) {
      Napi::Object taps = Napi::Object::New(env);
      for (auto& [name, entry] : taps_.entries) {
        // One record: its own shape; several (one per block): stacked along a new leading axis.
        const size_t per = entry.records.front().size(), count = entry.records.size();
        Napi::Float32Array data = Napi::Float32Array::New(env, per * count);
        for (size_t r = 0; r < count; ++r) std::memcpy(data.Data() + r * per, entry.records[r].data(), per * 4);
        Shape shape = entry.shape;
        if (count > 1) shape.insert(shape.begin(), int64_t(count));
        Napi::Object tap = Napi::Object::New(env);
        tap.Set("data", data);
        tap.Set("shape", from_shape(env, shape));
        taps.Set(name, tap);
      }
      result.Set("taps", taps);
    }
    deferred_.Resolve(result);
  }

 private:
  std::shared_ptr<Model> model_;
  ForwardInputs inputs_;
  CallOptions call_;
  bool want_taps_;
  Taps taps_;
  Tensor out_;
  ForwardReport report_;
};

// One sampling step on resident latents (Model::sample_step): nothing but the report comes back.
class SampleStepWorker final : public TypedWorker {
 public:
  SampleStepWorker(Napi::Env env, std::shared_ptr<LatentState> latents, ForwardInputs conditions, CallOptions call,
                   SamplerUpdate update, Tensor noise)
      : TypedWorker(env), latents_(std::move(latents)), conditions_(std::move(conditions)), call_(std::move(call)),
        update_(update), noise_(std::move(noise)) {}

 protected:
  void Run() override {
    Model& model = *latents_->model;
    std::lock_guard<std::mutex> lock(model.mutex());
    model.sample_step(latents_->x, conditions_, call_.guidance, update_, noise_, call_.forward_options(nullptr), &report_);
  }
  void OnOK() override {
    Napi::Object result = Napi::Object::New(Env());
    set_report(result, report_);
    deferred_.Resolve(result);
  }

 private:
  std::shared_ptr<LatentState> latents_;
  ForwardInputs conditions_;  // t, y, text (x: the latents)
  CallOptions call_;
  SamplerUpdate update_;
  Tensor noise_;
  ForwardReport report_;
};

// Uploads host latents into the model's backend memory (Model::make_resident).
class CreateLatentsWorker final : public TypedWorker {
 public:
  CreateLatentsWorker(Napi::Env env, std::shared_ptr<Model> model, Tensor host)
      : TypedWorker(env), model_(std::move(model)), host_(std::move(host)) {}

 protected:
  void Run() override {
    state_ = std::make_shared<LatentState>();
    state_->model = model_;
    std::lock_guard<std::mutex> lock(model_->mutex());  // the backend's stream is shared with forwards
    state_->x = model_->make_resident(host_);
  }
  void OnOK() override { deferred_.Resolve(NativeLatents::Create(Env(), std::move(state_))); }

 private:
  std::shared_ptr<Model> model_;
  Tensor host_;
  std::shared_ptr<LatentState> state_;
};

}  // namespace

Napi::Function NativeModel::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeModel",
                                   {InstanceMethod<&NativeModel::Forward>("forward"),
                                    InstanceMethod<&NativeModel::CreateLatents>("createLatents"),
                                    InstanceMethod<&NativeModel::SampleStep>("sampleStep"),
                                    InstanceMethod<&NativeModel::Dispose>("dispose"),
                                    InstanceMethod<&NativeModel::CreateCache>("createCache"),
                                    InstanceMethod<&NativeModel::Info>("info"),
                                    InstanceMethod<&NativeModel::Profile>("profile")});
  constructor() = Napi::Persistent(cls);
  constructor().SuppressDestruct();
  exports.Set("NativeModel", cls);
  exports.Set("loadModel", Napi::Function::New(env, &NativeModel::Load, "loadModel"));
  return cls;
}

Napi::Object NativeModel::Wrap(Napi::Env env, std::shared_ptr<Model> model) {
  return wrap_shared(constructor(), env, std::move(model));
}

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
  model_ = unwrap_shared<Model>(info, "NativeModel is created by loadModel(), not new");
  reported_bytes_ = static_cast<int64_t>(model_->weight_bytes());
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_bytes_);
}

NativeModel::~NativeModel() {
  // The env may be shutting down; only the native memory matters here (freed with the last reference).
}

std::shared_ptr<Model> NativeModel::live(Napi::Env env) { return live_or_throw(env, model_, "The model"); }

Napi::Value NativeModel::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsObject())
    throw_invalid("loadModel(path: string, config: object, options: { backend, dtype?, key? })");
  Napi::Object options = info[2].As<Napi::Object>();
  auto string_option = [&](const char* name, const std::string& fallback) {
    Napi::Value v = options.Get(name);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
  };
  auto bytes_option = [&](const char* name, size_t fallback) {  // validated in lib/model.ts
    Napi::Value v = options.Get(name);
    return v.IsNumber() ? size_t(v.As<Napi::Number>().DoubleValue()) : fallback;
  };
  auto* worker = new LoadWorker(env, info[0].As<Napi::String>().Utf8Value(), config_from_js(info[1].As<Napi::Object>()),
                                string_option("backend", "cpu"), parse_precision(string_option("dtype", "float32")),
                                string_option("key", ""), options.Get("profile").ToBoolean(),
                                bytes_option("workspaceRetain", Model::kDefaultWorkspaceRetain), bytes_option("workspaceMax", 0),
                                NativeAbortFlag::FlagOf(options),
                                std::make_unique<ProgressReporter>(env, options.Get("onProgress"), "options.onProgress"));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

// forward(x: Float32Array, xShape: number[], t: Float32Array, y: Int32Array | null,
//         options: { taps?, cfgScale?, cfgChannels?, cache?: NativeCache, forceFull? }) -> Promise<ForwardResult>
Napi::Value NativeModel::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  SKIPDIT_JS_TRY
  if (info.Length() < 5 || !info[4].IsObject()) throw_invalid("forward(x, xShape, t, y, options)");
  ForwardInputs in;
  Shape xs = to_shape(info[1], "x.shape");
  in.x = tensor_from_f32(info[0], xs, "x.data");
  std::tie(in.t, in.y) = timesteps_and_labels(info[2], info[3], xs.empty() ? 0 : xs[0]);
  Napi::Object opts = info[4].As<Napi::Object>();
  read_text_options(opts, in);
  auto* worker = new ForwardWorker(env, model, std::move(in), CallOptions(opts, model.get()), opts.Get("taps").ToBoolean());
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

// createLatents(data: Float32Array, shape: number[]) -> Promise<NativeLatents> in the model's backend memory: the
// upload waits for the model's lock on a pool thread, never on the JS thread.
Napi::Value NativeModel::CreateLatents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  SKIPDIT_JS_TRY
  if (info.Length() < 2) throw_invalid("createLatents(data: Float32Array, shape: number[])");
  Tensor host = tensor_from_f32(info[0], to_shape(info[1], "latents.shape"), "latents.data");
  return (new CreateLatentsWorker(env, std::move(model), std::move(host)))->queue();
  SKIPDIT_JS_CATCH(env)
}

// sampleStep(latents: NativeLatents, t: Float32Array, y: Int32Array | null,
//            options: { update, noise?, cfgScale?, cfgChannels?, cache?, forceFull?, text?, textMask? })
//            -> Promise<StepReport>
Napi::Value NativeModel::SampleStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  SKIPDIT_JS_TRY
  if (info.Length() < 4 || !info[3].IsObject()) throw_invalid("sampleStep(latents, t, y, options)");
  std::shared_ptr<LatentState> latents = NativeLatents::StateOf(info[0]);
  if (!latents) throw_invalid("Expected latents from model.createLatents() for latents");
  if (latents->model != model) throw_invalid("Expected latents created by this model for latents");
  const Shape& xs = latents->x.shape();
  ForwardInputs conditions;
  std::tie(conditions.t, conditions.y) = timesteps_and_labels(info[1], info[2], xs[0]);
  Napi::Object opts = info[3].As<Napi::Object>();
  read_text_options(opts, conditions);
  const SamplerUpdate update = sampler_update_from_js(opts.Get("update"), "update");
  Tensor noise;
  if (!opts.Get("noise").IsUndefined() && !opts.Get("noise").IsNull())
    noise = tensor_from_f32(opts.Get("noise"), xs, "noise");
  auto* worker = new SampleStepWorker(env, std::move(latents), std::move(conditions), CallOptions(opts, model.get()),
                                      update, std::move(noise));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

// createCache(policy) -> NativeCache (its own state; never shared with other caches of the model)
Napi::Value NativeModel::CreateCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  SKIPDIT_JS_TRY
  return NativeCache::Create(env, model, NativeCache::PolicyFromJs(info[0]));
  SKIPDIT_JS_CATCH(env)
}

Napi::Value NativeModel::Dispose(const Napi::CallbackInfo& info) {
  if (model_) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -reported_bytes_);
    model_.reset();  // freed now, or when the last in-flight forward finishes
  }
  return info.Env().Undefined();
}

Napi::Value NativeModel::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("config", config_to_js(env, model->config()));
  o.Set("backend", model->backend().name());
  o.Set("weightBytes", double(model->weight_bytes()));
  o.Set("workspaceBytes", double(model->workspace_bytes()));
  return o;
}

// profile(reset?: boolean) -> { ops: [{ op, calls, seconds, flops }] } | null (null: loaded without profile).
// The counts cover everything since load or the last reset; reset clears them after reading.
Napi::Value NativeModel::Profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> model = live(env);
  OpProfiler* profiler = model->profiler().get();
  if (!profiler) return env.Null();
  std::vector<OpProfile> ops = profiler->snapshot();
  if (info.Length() > 0 && info[0].ToBoolean()) profiler->reset();
  Napi::Array list = Napi::Array::New(env, ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", ops[i].op);
    o.Set("calls", double(ops[i].calls));
    o.Set("seconds", ops[i].seconds);
    o.Set("flops", ops[i].flops);
    list.Set(uint32_t(i), o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("backend", model->backend().name());
  result.Set("ops", list);
  return result;
}

}  // namespace skipdit::bindings
