// runOp(backend, dtype, name, args): runs one Backend op (the interface the model graph uses) on the named
// backend ('cpu' | 'cuda') at the given precision: the arrays are uploaded, linear/conv weights go through
// prepare_linear, the op runs, its output is downloaded. It exists so the tests can check every CUDA op
// against its CPU twin at awkward sizes (test/cuda.test.ts) and the hook itself against runKernel on CPU
// (test/backend-ops.test.ts); models never go through it. Synchronous. 'profiled:cpu' / 'profiled:cuda' run the
// op through the op profiler (backend/profiling_backend.h) wrapped around that backend, so the tests can check
// that the decorator forwards every op unchanged. Part of the test addon only (test_addon.cc).
#include <napi.h>

#include <functional>
#include <map>

#include "backend/backend.h"
#include "backend/profiling_backend.h"
#include "convert.h"
#include "kernel_args.h"
#include "worker.h"

namespace skipdit::bindings {

namespace {

// One call: the backend plus helpers to move the arguments onto it.
struct Call {
  Backend& be;
  const Args& a;
  Tensor in(const char* key, const Shape& shape) const {
    std::vector<float> v = a.floats(key, shape_numel(shape));
    Tensor host = Tensor::host(DType::F32, shape);
    std::copy(v.begin(), v.end(), host.f32());
    return be.upload_f32(host);
  }
  Tensor maybe(const char* key, const Shape& shape) const { return a.has(key) ? in(key, shape) : Tensor(); }
  Tensor out(const Shape& shape) const { return be.empty(DType::F32, shape); }
  // With args.act = 1, a token tensor of the op runs in the backend's activation type (bf16 / fp16 on CUDA
  // with those precisions, as in a model); otherwise float32.
  bool act() const { return a.has("act") && a.i("act"); }
  Tensor in_act(const char* key, const Shape& shape) const {
    Tensor x = in(key, shape);
    if (!act() || be.activation_dtype() == DType::F32) return x;
    Tensor y = be.empty(be.activation_dtype(), shape);
    be.convert(x, y);
    return y;
  }
  Tensor out_act(const Shape& shape) const { return be.empty(act() ? be.activation_dtype() : DType::F32, shape); }
  std::vector<float> result(const Tensor& t) const {
    std::vector<float> v(t.numel());
    be.download(t, v.data());
    return v;
  }
  // A (G, N, D) token op's conditioning rows: mod (G / repeat, chunks * D).
  Tensor mod(int64_t G, int64_t D) const {
    const int64_t rep = a.i("repeat");
    if (rep < 1 || G % rep) throw_invalid("runOp: G must be a multiple of repeat");
    return in("mod", {G / rep, a.i("chunks") * D});
  }
};

using Op = std::function<std::vector<float>(const Call&)>;

const std::map<std::string, Op>& ops() {
  static const std::map<std::string, Op> table = {
      {"linear",
       [](const Call& c) {
         const int64_t M = c.a.i("M"), K = c.a.i("K"), N = c.a.i("N");
         Tensor y = c.out({M, N});
         c.be.linear(c.in("x", {M, K}), c.be.prepare_linear(c.in("w", {N, K})), c.maybe("bias", {N}), y,
                     c.a.has("gelu") && c.a.i("gelu") ? Activation::GeluTanh : Activation::None);
         return c.result(y);
       }},
      {"linear_gate_residual",
       [](const Call& c) {
         const int64_t G = c.a.i("G"), N = c.a.i("N"), D = c.a.i("D"), K = c.a.i("K");
         Tensor h = c.in("h", {G, N, D}), scratch = c.out({G, N, D});
         c.be.linear_gate_residual(c.in("x", {G, N, K}), c.be.prepare_linear(c.in("w", {D, K})), c.maybe("bias", {D}),
                                   c.mod(G, D), c.a.i("repeat"), int(c.a.i("gateChunk")), h, scratch);
         return c.result(h);
       }},
      {"layer_norm",
       [](const Call& c) {
         const int64_t rows = c.a.i("rows"), D = c.a.i("D");
         Tensor y = c.out({rows, D});
         c.be.layer_norm(c.in("x", {rows, D}), c.a.f("eps"), c.maybe("gamma", {D}), c.maybe("beta", {D}), y);
         return c.result(y);
       }},
      {"layer_norm_concat",
       [](const Call& c) {
         const int64_t rows = c.a.i("rows"), D = c.a.i("D");
         Tensor y = c.out({rows, 2 * D});
         c.be.layer_norm_concat(c.in("a", {rows, D}), c.in("b", {rows, D}), c.a.f("eps"), c.in("gamma", {2 * D}),
                                c.in("beta", {2 * D}), y);
         return c.result(y);
       }},
      {"layer_norm_modulate",
       [](const Call& c) {
         const int64_t G = c.a.i("G"), N = c.a.i("N"), D = c.a.i("D");
         Tensor y = c.out({G, N, D});
         c.be.layer_norm_modulate(c.in("x", {G, N, D}), c.a.f("eps"), c.mod(G, D), c.a.i("repeat"),
                                  int(c.a.i("shiftChunk")), int(c.a.i("scaleChunk")), y);
         return c.result(y);
       }},
      {"modulate",
       [](const Call& c) {
         const int64_t G = c.a.i("G"), N = c.a.i("N"), D = c.a.i("D");
         Tensor y = c.out({G, N, D});
         c.be.modulate(c.in("x", {G, N, D}), c.mod(G, D), c.a.i("repeat"), int(c.a.i("shiftChunk")),
                       int(c.a.i("scaleChunk")), y);
         return c.result(y);
       }},
      {"gate_residual",
       [](const Call& c) {
         const int64_t G = c.a.i("G"), N = c.a.i("N"), D = c.a.i("D");
         Tensor h = c.in("h", {G, N, D});
         c.be.gate_residual(h, c.in("y", {G, N, D}), c.mod(G, D), c.a.i("repeat"), int(c.a.i("gateChunk")));
         return c.result(h);
       }},
      {"silu",
       [](const Call& c) {
         Tensor x = c.in("x", {c.a.i("n")}), y = c.out(x.shape());
         c.be.silu(x, y);
         return c.result(y);
       }},
      {"gelu_tanh",
       [](const Call& c) {
         Tensor x = c.in("x", {c.a.i("n")}), y = c.out(x.shape());
         c.be.gelu_tanh(x, y);
         return c.result(y);
       }},
      {"add",
       [](const Call& c) {
         Tensor x = c.in("x", {c.a.i("n")});
         c.be.add(x, c.in("y", x.shape()));
         return c.result(x);
       }},
      {"add_broadcast_rows",
       [](const Call& c) {
         const int64_t G = c.a.i("G"), N = c.a.i("N"), D = c.a.i("D");
         Tensor x = c.in("x", {G, N, D});
         c.be.add_broadcast_rows(x, c.in("e", {N, D}));
         return c.result(x);
       }},
      {"attention",
       [](const Call& c) {
         const int64_t G = c.a.i("G"), N = c.a.i("N"), H = c.a.i("H"), hd = c.a.i("hd");
         Tensor out = c.out_act({G, N, H * hd});
         c.be.attention(c.in_act("qkv", {G, N, 3 * H * hd}), H, out);
         return c.result(out);
       }},
      {"patch_embed",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), C = c.a.i("C"), Hs = c.a.i("H"), Ws = c.a.i("W"), p = c.a.i("p"), D = c.a.i("D");
         if (p < 1 || Hs % p || Ws % p) throw_invalid("patch_embed: H and W must be multiples of p");
         const int64_t T = (Hs / p) * (Ws / p);
         Tensor cols = c.out({B, T, C * p * p}), tokens = c.out({B, T, D});
         c.be.patch_embed(c.in("x", {B, C, Hs, Ws}), c.in("w", {D, C, p, p}), c.in("bias", {D}), cols, tokens);
         return c.result(tokens);
       }},
      {"timestep_frequencies",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), dim = c.a.i("dim");
         Tensor out = c.out({B, dim});
         c.be.timestep_frequencies(c.in("t", {B}), out);
         return c.result(out);
       }},
      {"embedding",
       [](const Call& c) {
         const int64_t R = c.a.i("rows"), D = c.a.i("D"), B = c.a.i("B");
         std::vector<int64_t> y = c.a.labels("labels", B);
         Tensor labels = Tensor::host(DType::I64, {B});
         std::copy(y.begin(), y.end(), static_cast<int64_t*>(labels.raw()));
         Tensor out = c.out({B, D});
         c.be.embedding(c.in("table", {R, D}), labels, out);
         return c.result(out);
       }},
      {"unpatchify",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), G = c.a.i("G"), p = c.a.i("p"), C = c.a.i("C");
         Tensor out = c.out({B, C, G * p, G * p});
         c.be.unpatchify(c.in("tokens", {B, G * G, p * p * C}), p, out);
         return c.result(out);
       }},
      {"swap_token_axes",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), A1 = c.a.i("A1"), A2 = c.a.i("A2"), D = c.a.i("D");
         Tensor y = c.out({B * A2, A1, D});
         c.be.swap_token_axes(c.in("x", {B * A1, A2, D}), B, y);
         return c.result(y);
       }},
      {"cfg_guidance",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), F = c.a.i("F"), C = c.a.i("C"), HW = c.a.i("HW");
         if (B % 2 || c.a.i("guided") > C) throw_invalid("cfg_guidance: B must be even and guided <= C");
         Tensor out = c.out({B, F * C * HW});
         c.be.cfg_guidance(c.in("raw", {B, F * C * HW}), F, C, c.a.i("guided"), c.a.f("scale"), out);
         return c.result(out);
       }},
      {"sampler_update",  // x (outer, C, inner) in place; out (outer, C or 2C, inner); update as sampleStep's
       [](const Call& c) {
         const int64_t outer = c.a.i("outer"), C = c.a.i("C"), inner = c.a.i("inner");
         const int64_t out_channels = c.a.i("doubled") ? 2 * C : C;
         const SamplerUpdate u = sampler_update_from_js(c.a.value("update"), "update");
         Tensor x = c.in("x", {outer, C, inner});
         c.be.sampler_update(c.in("out", {outer, out_channels, inner}), outer, C, c.maybe("noise", {outer, C, inner}),
                             u, x);
         return c.result(x);
       }},
      {"group_norm",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), C = c.a.i("C"), H = c.a.i("H"), W = c.a.i("W");
         Tensor y = c.out({B, C, H, W});
         c.be.group_norm(c.in("x", {B, C, H, W}), c.a.i("groups"), c.a.f("eps"), c.in("gamma", {C}), c.in("beta", {C}),
                         c.a.has("silu") && c.a.i("silu"), y);
         return c.result(y);
       }},
      {"conv2d",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), Cin = c.a.i("Cin"), H = c.a.i("H"), W = c.a.i("W"), Cout = c.a.i("Cout"),
                       k = c.a.i("k");
         if (k % 2 == 0) throw_invalid("conv2d: k must be odd");
         Tensor y = c.out({B, Cout, H, W});
         c.be.conv2d(c.in("x", {B, Cin, H, W}), c.be.prepare_linear(c.in("w", {Cout, Cin * k * k})),
                     c.in("bias", {Cout}), k, y);
         return c.result(y);
       }},
      {"upsample_nearest2x",
       [](const Call& c) {
         const int64_t B = c.a.i("B"), C = c.a.i("C"), H = c.a.i("H"), W = c.a.i("W");
         Tensor y = c.out({B, C, 2 * H, 2 * W});
         c.be.upsample_nearest2x(c.in("x", {B, C, H, W}), y);
         return c.result(y);
       }},
  };
  return table;
}

Napi::Value RunOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsObject())
    throw_invalid("runOp(backend: string, dtype: string, name: string, args: object)");
  const std::string name = info[2].As<Napi::String>().Utf8Value();
  auto it = ops().find(name);
  if (it == ops().end()) throw_invalid("Expected a backend op name for name but received '" + name + "'");
  std::string backend_name = info[0].As<Napi::String>().Utf8Value();
  const std::string profiled_prefix = "profiled:";
  const bool profiled = backend_name.rfind(profiled_prefix, 0) == 0;
  if (profiled) backend_name.erase(0, profiled_prefix.size());
  std::shared_ptr<Backend> backend = make_backend(backend_name, parse_precision(info[1].As<Napi::String>().Utf8Value()));
  if (profiled) backend = std::make_shared<ProfilingBackend>(std::move(backend));
  Args args(info[3].As<Napi::Object>());
  std::vector<float> out = it->second(Call{*backend, args});
  return to_f32_array(env, out.data(), out.size());
  SKIPDIT_JS_CATCH(env)
}

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (auto& [name, fn] : ops()) a.Set(i++, name);
  return a;
}

}  // namespace

void InitBackendOps(Napi::Env env, Napi::Object exports) {
  exports.Set("runOp", Napi::Function::New(env, RunOp, "runOp"));
  exports.Set("opNames", Napi::Function::New(env, OpNames, "opNames"));
}

}  // namespace skipdit::bindings
