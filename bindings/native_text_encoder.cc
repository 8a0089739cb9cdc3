// NativeTextEncoder: the JS handle of a TextEncoder (native/text). loadTextEncoder(dir, config, options) ->
// Promise<NativeTextEncoder>; enc.forward(ids, shape, mask, { taps?, abort? }) -> Promise<{ data, shape, taps? }>
// on a worker thread. lib/text-encoder.ts validates the inputs; here only what is converted is checked.
#include <napi.h>

#include "checkpoint/weight_folder.h"
#include "handle.h"

#include <cmath>
#include <cstring>

#include "checkpoint/checkpoint.h"
#include "convert.h"
#include "native_abort.h"
#include "progress.h"
#include "text/text_encoder.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

Napi::FunctionReference& text_encoder_constructor() {
  static Napi::FunctionReference ref;
  return ref;
}

TextEncoderConfig text_config_from_js(const Napi::Object& o) {
  TextEncoderConfig c;
  const Napi::Value family = o.Get("family");
  const std::string f = family.IsString() ? family.As<Napi::String>().Utf8Value() : "";
  if (f != "t5" && f != "bert") throw_invalid("Expected 't5' or 'bert' for text encoder config.family");
  c.family = f == "t5" ? TextFamily::T5 : TextFamily::Bert;
  auto integer = [&](const char* key, int64_t& out, bool required) {
    const Napi::Value v = o.Get(key);
    if (v.IsUndefined() && !required) return;
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(std::fabs(d) <= 9e15) || d != std::floor(d))
      throw_invalid(std::string("Expected an integer for text encoder config.") + key);
    out = static_cast<int64_t>(d);
  };
  integer("vocab_size", c.vocab_size, true);
  integer("hidden_size", c.hidden_size, true);
  integer("num_layers", c.num_layers, true);
  integer("num_heads", c.num_heads, true);
  integer("head_dim", c.head_dim, true);
  integer("ff_size", c.ff_size, true);
  integer("relative_buckets", c.relative_buckets, false);
  integer("relative_max_distance", c.relative_max_distance, false);
  integer("max_positions", c.max_positions, false);
  integer("type_vocab_size", c.type_vocab_size, false);
  const Napi::Value eps = o.Get("eps");
  if (!eps.IsNumber()) throw_invalid("Expected a number for text encoder config.eps");
  c.eps = eps.As<Napi::Number>().DoubleValue();
  c.validate();
  return c;
}

Napi::Object text_config_to_js(Napi::Env env, const TextEncoderConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", text_family_name(c.family));
  o.Set("vocab_size", double(c.vocab_size));
  o.Set("hidden_size", double(c.hidden_size));
  o.Set("num_layers", double(c.num_layers));
  o.Set("num_heads", double(c.num_heads));
  o.Set("head_dim", double(c.head_dim));
  o.Set("ff_size", double(c.ff_size));
  o.Set("eps", c.eps);
  o.Set("relative_buckets", double(c.relative_buckets));
  o.Set("relative_max_distance", double(c.relative_max_distance));
  o.Set("max_positions", double(c.max_positions));
  o.Set("type_vocab_size", double(c.type_vocab_size));
  return o;
}

class NativeTextEncoder : public Napi::ObjectWrap<NativeTextEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeTextEncoder",
                                     {InstanceMethod<&NativeTextEncoder::Forward>("forward"),
                                      InstanceMethod<&NativeTextEncoder::Info>("info"),
                                      InstanceMethod<&NativeTextEncoder::Dispose>("dispose")});
    text_encoder_constructor() = Napi::Persistent(cls);
    text_encoder_constructor().SuppressDestruct();
    exports.Set("NativeTextEncoder", cls);
  }

  explicit NativeTextEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTextEncoder>(info) {
    encoder_ = unwrap_shared<TextEncoder>(info, "NativeTextEncoder is created by loadTextEncoder(), not new");
    reported_bytes_ = static_cast<int64_t>(encoder_->weight_bytes());
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), reported_bytes_);
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<TextEncoder> encoder) {
    return wrap_shared(text_encoder_constructor(), env, std::move(encoder));
  }

 private:
  std::shared_ptr<TextEncoder> live(Napi::Env env) { return live_or_throw(env, encoder_, "The text encoder"); }

  class ForwardWorker final : public TypedWorker {
   public:
    ForwardWorker(Napi::Env env, std::shared_ptr<TextEncoder> encoder, Tensor ids, Tensor mask, bool taps, AbortFlag abort)
        : TypedWorker(env), encoder_(std::move(encoder)), ids_(std::move(ids)), mask_(std::move(mask)), want_taps_(taps),
          abort_(std::move(abort)) {}

   protected:
    void Run() override {
      std::lock_guard<std::mutex> lock(encoder_->mutex());
      out_ = encoder_->forward(ids_, mask_, want_taps_ ? &taps_ : nullptr, abort_.get());
    }
    void OnOK() override {
      Napi::Env env = Env();
      Napi::Object r = Napi::Object::New(env);
      r.Set("data", to_f32_array(env, out_.f32(), out_.numel()));
      r.Set("shape", from_shape(env, out_.shape()));
      if (want_taps_) {
        Napi::Object taps = Napi::Object::New(env);
        for (auto& [name, entry] : taps_.entries) {
          // one record: its shape; several (one per layer): stacked along a new leading axis
          const size_t per = entry.records.front().size(), count = entry.records.size();
          Napi::Float32Array data = Napi::Float32Array::New(env, per * count);
          for (size_t i = 0; i < count; ++i) std::memcpy(data.Data() + i * per, entry.records[i].data(), per * sizeof(float));
          Shape shape = entry.shape;
          if (count > 1) shape.insert(shape.begin(), int64_t(count));
          Napi::Object t = Napi::Object::New(env);
          t.Set("data", data);
          t.Set("shape", from_shape(env, shape));
          taps.Set(name, t);
        }
        r.Set("taps", taps);
      }
      deferred_.Resolve(r);
    }

   private:
    std::shared_ptr<TextEncoder> encoder_;
    Tensor ids_, mask_, out_;
    bool want_taps_;
    Taps taps_;
    AbortFlag abort_;
  };

  // forward(ids: Int32Array, shape: [B, L], mask: Float32Array | null, options: { taps?, abort? })
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<TextEncoder> encoder = live(env);
    SKIPDIT_JS_TRY
    if (info.Length() < 4 || !info[3].IsObject()) throw_invalid("forward(ids, shape, mask, options)");
    const Shape shape = to_shape(info[1], "ids.shape");
    if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1) throw_invalid("Expected [B, L] with B, L >= 1 for ids.shape");
    Tensor ids = tensor_from_labels(info[0], "ids.data");
    if (ids.numel() != shape_numel(shape))
      throw_invalid("Expected " + std::to_string(shape_numel(shape)) + " ids (shape " + shape_str(shape) + ") for ids.data");
    ids = ids.reshape(shape);
    Tensor mask;
    if (!info[2].IsNull() && !info[2].IsUndefined()) mask = tensor_from_f32(info[2], shape, "mask.data");
    // The ids index the embedding table and the mask must be 0 / 1: checked here as InvalidArgument (lib/ has
    // checked them already; the raw addon must not reach the invariant checks with them).
    const int64_t vocab = encoder->config().vocab_size;
    for (int64_t i = 0; i < ids.numel(); ++i)
      if (ids.i64()[i] < 0 || ids.i64()[i] >= vocab)
        throw_invalid("Expected token ids in [0, " + std::to_string(vocab - 1) + "] for ids.data but received " +
                      std::to_string(ids.i64()[i]));
    if (mask.defined())
      for (int64_t i = 0; i < mask.numel(); ++i)
        if (mask.f32()[i] != 0.0f && mask.f32()[i] != 1.0f) throw_invalid("Expected 0 or 1 for every mask value");
    const int64_t max_length = encoder->config().max_length();
    if (max_length > 0 && shape[1] > max_length)
      throw_invalid("Expected at most " + std::to_string(max_length) + " tokens (max_position_embeddings) for ids.shape[1] but received " +
                    std::to_string(shape[1]));
    Napi::Object opts = info[3].As<Napi::Object>();
    auto* worker = new ForwardWorker(env, encoder, std::move(ids), std::move(mask), opts.Get("taps").ToBoolean(),
                                     NativeAbortFlag::FlagOf(opts));
    return worker->queue();
    SKIPDIT_JS_CATCH(env)
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<TextEncoder> encoder = live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("config", text_config_to_js(env, encoder->config()));
    o.Set("backend", encoder->backend().name());
    o.Set("dtype", precision_name(encoder->precision()));
    o.Set("weightBytes", double(encoder->weight_bytes()));
    o.Set("workspaceBytes", double(encoder->workspace_bytes()));
    return o;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (encoder_) {
      Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -reported_bytes_);
      encoder_.reset();  // freed now, or when the last in-flight forward finishes
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<TextEncoder> encoder_;
  int64_t reported_bytes_ = 0;
};

class LoadTextEncoderWorker final : public TypedWorker {
 public:
  LoadTextEncoderWorker(Napi::Env env, std::string path, TextEncoderConfig config, std::string backend, Precision precision,
                        AbortFlag abort, std::unique_ptr<ProgressReporter> progress)
      : TypedWorker(env), path_(std::move(path)), config_(config), backend_(std::move(backend)), precision_(precision),
        abort_(std::move(abort)), progress_(std::move(progress)) {}

 protected:
  void Run() override {
    std::shared_ptr<Backend> backend = make_backend(backend_, precision_);
    check_abort(abort_.get());
    // The folder's weights in any Hugging Face layout (one or sharded safetensors, pytorch_model.bin, sharded
    // .bin); a T5 decoder and lm_head are never read. EncoderWeights then resolves the family's names.
    WeightFolderSpec spec;
    spec.dir = path_;
    spec.ignore_prefixes = {"decoder.", "lm_head."};
    std::unique_ptr<WeightSource> weights = open_weight_folder(spec);
    encoder_ = std::make_shared<TextEncoder>(config_, backend, precision_, *weights,
                                             LoadHooks{abort_.get(), progress_->fn()});
  }
  void OnOK() override { deferred_.Resolve(NativeTextEncoder::Wrap(Env(), encoder_)); }

 private:
  std::string path_;
  TextEncoderConfig config_;
  std::string backend_;
  Precision precision_;
  AbortFlag abort_;
  std::unique_ptr<ProgressReporter> progress_;
  std::shared_ptr<TextEncoder> encoder_;
};

// loadTextEncoder(dir, config, { backend, dtype?, abort?, onProgress? }) -> Promise<NativeTextEncoder>: the weights of
// the Hugging Face folder dir (checkpoint/weight_folder.h).
Napi::Value LoadTextEncoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsObject())
    throw_invalid("loadTextEncoder(path: string, config: object, options: { backend, dtype?, abort?, onProgress? })");
  Napi::Object options = info[2].As<Napi::Object>();
  auto string_option = [&](const char* name, const std::string& fallback) {
    const Napi::Value v = options.Get(name);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
  };
  auto* worker = new LoadTextEncoderWorker(
      env, info[0].As<Napi::String>().Utf8Value(), text_config_from_js(info[1].As<Napi::Object>()),
      string_option("backend", "cpu"), parse_precision(string_option("dtype", "float32")), NativeAbortFlag::FlagOf(options),
      std::make_unique<ProgressReporter>(env, options.Get("onProgress"), "options.onProgress"));
  return worker->queue();
  SKIPDIT_JS_CATCH(env)
}

}  // namespace

void InitTextEncoders(Napi::Env env, Napi::Object exports) {
  NativeTextEncoder::Init(env, exports);
  exports.Set("loadTextEncoder", Napi::Function::New(env, LoadTextEncoder, "loadTextEncoder"));
}

}  // namespace skipdit::bindings
