// NativeVae: the JS handle of a VaeDecoder. loadVae(path, config, backend, dtype?) -> Promise<NativeVae>;
// vae.decode(z, shape, { chunk?, frames?, taps?, abort?, onProgress? }) -> Promise<{ data, shape, taps? }> on a worker
// thread (frames: the temporal decoder's num_frames per call, 0 = each chunk one video).
#include <napi.h>

#include "handle.h"

#include "native_abort.h"
#include "progress.h"
#include "checkpoint/checkpoint.h"
#include "convert.h"
#include "vae/vae_decoder.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

Napi::FunctionReference& vae_constructor() {
  static Napi::FunctionReference ref;
  return ref;
}

VaeConfig vae_config_from_js(const Napi::Object& o) {
  VaeConfig c;
  auto integer = [&](const char* key, int64_t& out) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return;
    if (!v.IsNumber()) throw_invalid(std::string("Expected an integer for vae config.") + key);
    out = v.As<Napi::Number>().Int64Value();
  };
  integer("latent_channels", c.latent_channels);
  integer("out_channels", c.out_channels);
  integer("layers_per_block", c.layers_per_block);
  integer("norm_num_groups", c.norm_num_groups);
  Napi::Value blocks = o.Get("block_out_channels");
  if (!blocks.IsUndefined()) c.block_out_channels = to_shape(blocks, "vae config.block_out_channels");
  Napi::Value attn = o.Get("mid_block_add_attention");
  if (!attn.IsUndefined()) c.mid_block_add_attention = attn.ToBoolean();
  c.temporal = o.Get("temporal").ToBoolean();
  c.validate();
  return c;
}

class NativeVae : public Napi::ObjectWrap<NativeVae> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeVae",
                                     {InstanceMethod<&NativeVae::Decode>("decode"), InstanceMethod<&NativeVae::Info>("info"),
                                      InstanceMethod<&NativeVae::Dispose>("dispose")});
    vae_constructor() = Napi::Persistent(cls);
    vae_constructor().SuppressDestruct();
    exports.Set("NativeVae", cls);
  }

  explicit NativeVae(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeVae>(info) {
    vae_ = unwrap_shared<VaeDecoder>(info, "NativeVae is created by loadVae(), not new");
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(vae_->weight_bytes()));
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<VaeDecoder> vae) {
    return wrap_shared(vae_constructor(), env, std::move(vae));
  }

 private:
  std::shared_ptr<VaeDecoder> live(Napi::Env env) { return live_or_throw(env, vae_, "The VAE"); }

  class DecodeWorker final : public TypedWorker {
   public:
    DecodeWorker(Napi::Env env, std::shared_ptr<VaeDecoder> vae, Tensor z, int64_t chunk, int64_t frames, bool taps,
                 AbortFlag abort, std::unique_ptr<ProgressReporter> progress)
        : TypedWorker(env), vae_(std::move(vae)), z_(std::move(z)), chunk_(chunk), frames_(frames), want_taps_(taps),
          abort_(std::move(abort)), progress_(std::move(progress)) {}

   protected:
    void Run() override {
      std::lock_guard<std::mutex> lock(vae_->mutex());
      out_ = vae_->decode(z_, chunk_, want_taps_ ? &taps_ : nullptr, abort_.get(), progress_->fn(), frames_);
    }
    void OnOK() override {
      Napi::Env env = Env();
      Napi::Object r = Napi::Object::New(env);
      r.Set("data", to_f32_array(env, out_.f32(), out_.numel()));
      r.Set("shape", from_shape(env, out_.shape()));
      if (want_taps_) {
        Napi::Object taps = Napi::Object::New(env);
        for (auto& [name, e] : taps_.entries) {
          Napi::Object t = Napi::Object::New(env);
          t.Set("data", to_f32_array(env, e.records.back().data(), e.records.back().size()));
          t.Set("shape", from_shape(env, e.shape));
          taps.Set(name, t);
        }
        r.Set("taps", taps);
      }
      deferred_.Resolve(r);
    }

   private:
    std::shared_ptr<VaeDecoder> vae_;
    Tensor z_, out_;
    int64_t chunk_, frames_;
    bool want_taps_;
    Taps taps_;
    AbortFlag abort_;
    std::unique_ptr<ProgressReporter> progress_;
  };

  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<VaeDecoder> vae = live(env);
    SKIPDIT_JS_TRY
    if (info.Length() < 3 || !info[2].IsObject()) throw_invalid("decode(z, shape, options)");
    Shape shape = to_shape(info[1], "z.shape");
    Tensor z = tensor_from_f32(info[0], shape, "z.data");
    Napi::Object opts = info[2].As<Napi::Object>();
    const int64_t chunk = opts.Get("chunk").IsNumber() ? opts.Get("chunk").As<Napi::Number>().Int64Value() : 1;
    const int64_t frames = opts.Get("frames").IsNumber() ? opts.Get("frames").As<Napi::Number>().Int64Value() : 0;
    auto* worker = new DecodeWorker(env, vae, std::move(z), chunk, frames, opts.Get("taps").ToBoolean(), NativeAbortFlag::FlagOf(opts),
                                    std::make_unique<ProgressReporter>(env, opts.Get("onProgress"), "options.onProgress"));
    return worker->queue();
    SKIPDIT_JS_CATCH(env)
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<VaeDecoder> vae = live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("layout", vae_layout_name(vae->layout()));
    o.Set("weightBytes", double(vae->weight_bytes()));
    return o;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (vae_) {
      Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -static_cast<int64_t>(vae_->weight_bytes()));
      vae_.reset();
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<VaeDecoder> vae_;
};

class LoadVaeWorker final : public TypedWorker {
 public:
  LoadVaeWorker(Napi::Env env, std::string path, VaeConfig config, std::string backend, Precision precision,
                AbortFlag abort, std::unique_ptr<ProgressReporter> progress)
      : TypedWorker(env), path_(std::move(path)), config_(std::move(config)), backend_(std::move(backend)),
        precision_(precision), abort_(std::move(abort)), progress_(std::move(progress)) {}

 protected:
  void Run() override {
    // Low-precision weights: the CUDA convolutions and projections run on the tensor cores (float32
    // activations rounded as they are staged); the CPU decoder has float32 weights only.
    if (backend_ == "cpu" && precision_ != Precision::F32)
      fail(ErrorKind::InvalidArgument, std::string("Expected 'float32' for the dtype of a VAE on the cpu backend but received '") +
                                           precision_name(precision_) + "'");
    std::shared_ptr<Backend> backend = make_backend(backend_, precision_);
    Checkpoint checkpoint = open_checkpoint_file(path_, "");
    vae_ = std::make_shared<VaeDecoder>(config_, backend, *checkpoint.source, LoadHooks{abort_.get(), progress_->fn()});
  }
  void OnOK() override { deferred_.Resolve(NativeVae::Wrap(Env(), vae_)); }

 private:
  std::string path_;
  VaeConfig config_;
  std::string backend_;
  Precision precision_;
  AbortFlag abort_;
  std::unique_ptr<ProgressReporter> progress_;
  std::shared_ptr<VaeDecoder> vae_;
};

Napi::Value LoadVae(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsString())
    throw_invalid("loadVae(path: string, config: object, backend: string, dtype?: string, options?: { abort?, onProgress? })");
  const std::string dtype = info.Length() > 3 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "float32";
  const bool has_options = info.Length() > 4 && info[4].IsObject();
  AbortFlag abort = has_options ? NativeAbortFlag::FlagOf(info[4].As<Napi::Object>()) : nullptr;
  auto progress = std::make_unique<ProgressReporter>(env, has_options ? info[4].As<Napi::Object>().Get("onProgress") : env.Undefined(),
                                                     "options.onProgress");
  auto* worker = new LoadVaeWorker(env, info[0].As<Napi::String>().Utf8Value(), vae_config_from_js(info[1].As<Napi::Object>()),
                                   info[2].As<Napi::String>().Utf8Value(), parse_precision(dtype), std::move(abort),
                                   std::move(progress));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitVae(Napi::Env env, Napi::Object exports) {
  NativeVae::Init(env, exports);
  exports.Set("loadVae", Napi::Function::New(env, LoadVae, "loadVae"));
}

}  // namespace skipdit::bindings
