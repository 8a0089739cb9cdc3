// runKernel(name, args): calls one CPU kernel of native/cpu/ops directly, synchronously, on copies of
// the given arrays. It exists so the test suite can check each kernel against an independent reference
// at awkward sizes; models never go through it. Part of the test addon only (test_addon.cc).
#include <napi.h>

#include <cmath>
#include <functional>
#include <map>

#include "convert.h"
#include "kernel_args.h"
#include "cpu/ops/activations.h"
#include "cpu/ops/attention.h"
#include "cpu/ops/cfg_guidance.h"
#include "cpu/ops/conv2d.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/group_norm.h"
#include "cpu/ops/upsample.h"
#include "cpu/ops/layer_norm.h"
#include "cpu/ops/linear.h"
#include "cpu/ops/gate_residual.h"
#include "cpu/ops/modulate.h"
#include "cpu/ops/patch_embed.h"
#include "cpu/ops/sincos_embed.h"
#include "cpu/ops/add_rows.h"
#include "cpu/ops/embedding.h"
#include "cpu/ops/relayout.h"
#include "cpu/ops/unpatchify.h"

namespace skipdit::bindings {

namespace {

using Kernel = std::function<std::vector<float>(const Args&)>;

// modulate / layer_norm_modulate: x (G, N, D), conditioning rows mod (G / repeat, stride), shift/scale columns.
std::vector<float> modulate_kernel(const Args& a, bool normalize) {
  const int64_t G = a.i("G"), N = a.i("N"), D = a.i("D"), rep = a.i("repeat"), stride = a.i("stride");
  if (rep < 1 || G % rep || a.i("shiftCol") + D > stride || a.i("scaleCol") + D > stride)
    throw_invalid("modulate: inconsistent repeat/stride/columns");
  auto x = a.floats("x", G * N * D), mod = a.floats("mod", (G / rep) * stride);
  std::vector<float> y(G * N * D);
  const cpu::CondRows cond{mod.data(), stride, rep};
  if (normalize) cpu::layer_norm_modulate(x.data(), G, N, D, a.f("eps"), cond, a.i("shiftCol"), a.i("scaleCol"), y.data());
  else cpu::modulate(x.data(), G, N, D, cond, a.i("shiftCol"), a.i("scaleCol"), y.data());
  return y;
}

const std::map<std::string, Kernel>& kernels() {
  static const std::map<std::string, Kernel> table = {
      {"linear",
       [](const Args& a) {
         const int64_t M = a.i("M"), K = a.i("K"), N = a.i("N");
         auto x = a.floats("x", M * K), w = a.floats("w", N * K);
         std::vector<float> b = a.has("bias") ? a.floats("bias", N) : std::vector<float>();
         std::vector<float> y(M * N);
         cpu::linear(x.data(), M, K, w.data(), b.empty() ? nullptr : b.data(), N, y.data(),
                     a.has("gelu") && a.i("gelu") ? cpu::Epilogue::GeluTanh : cpu::Epilogue::None);
         return y;
       }},
      // options: bias, gelu, bf16 (weights packed as bf16), gate + gate_rows + c (gated residual into c),
      // pack: 1 packs w through the strided entry point (rows K + 3 floats apart), 2 through the transposed one
      // (from w^T), the packings attention uses on activations
      {"gemm_packed",
       [](const Args& a) {
         const int64_t M = a.i("M"), K = a.i("K"), N = a.i("N");
         auto x = a.floats("x", M * K), w = a.floats("w", N * K);
         std::vector<float> b = a.has("bias") ? a.floats("bias", N) : std::vector<float>();
         std::vector<float> y = a.has("c") ? a.floats("c", M * N) : std::vector<float>(M * N), gate;
         cpu::GemmEpilogue ep;
         ep.bias = b.empty() ? nullptr : b.data();
         ep.act = a.has("gelu") && a.i("gelu") ? cpu::Epilogue::GeluTanh : cpu::Epilogue::None;
         if (a.has("gate_rows")) {
           ep.gate_rows = std::max<int64_t>(1, a.i("gate_rows"));
           gate = a.floats("gate", (M + ep.gate_rows - 1) / ep.gate_rows * N);
           ep.gate = gate.data();
           ep.gate_stride = N;
         }
         const int64_t layout = a.has("pack") ? a.i("pack") : 0, ld = K + 3;
         std::vector<float> source;  // w laid out for the chosen packing entry point
         if (layout == 1) {
           source.assign(N * ld, std::nanf(""));  // the gap must never be read
           for (int64_t n = 0; n < N; ++n) std::copy(w.begin() + n * K, w.begin() + (n + 1) * K, source.begin() + n * ld);
         } else if (layout == 2) {
           source.resize(K * N);
           for (int64_t n = 0; n < N; ++n)
             for (int64_t k = 0; k < K; ++k) source[k * N + n] = w[n * K + k];
         }
         if (a.has("bf16") && a.i("bf16")) {
           std::vector<uint16_t> packed(cpu::gemm_packed_bf16_count(N, K));
           if (layout == 1) cpu::gemm_pack_bf16_strided(source.data(), N, K, ld, packed.data());
           else if (layout == 2) cpu::gemm_pack_bf16_transposed(source.data(), N, K, N, packed.data());
           else cpu::gemm_pack_bf16(w.data(), N, K, packed.data());
           cpu::gemm_packed_bf16(x.data(), M, K, K, packed.data(), N, y.data(), ep);
         } else {
           std::vector<float> packed(cpu::gemm_packed_floats(N, K));
           if (layout == 1) cpu::gemm_pack_strided(source.data(), N, K, ld, packed.data());
           else if (layout == 2) cpu::gemm_pack_transposed(source.data(), N, K, N, packed.data());
           else cpu::gemm_pack(w.data(), N, K, packed.data());
           cpu::gemm_packed(x.data(), M, K, K, packed.data(), N, y.data(), ep);
         }
         return y;
       }},
      {"layer_norm",
       [](const Args& a) {
         const int64_t rows = a.i("rows"), D = a.i("D");
         auto x = a.floats("x", rows * D);
         std::vector<float> g, b;
         if (a.has("gamma")) g = a.floats("gamma", D), b = a.floats("beta", D);
         std::vector<float> y(rows * D);
         cpu::layer_norm(x.data(), rows, D, a.f("eps"), g.empty() ? nullptr : g.data(), b.empty() ? nullptr : b.data(),
                         y.data());
         return y;
       }},
      {"layer_norm_concat",
       [](const Args& a) {
         const int64_t rows = a.i("rows"), D = a.i("D");
         auto x0 = a.floats("a", rows * D), x1 = a.floats("b", rows * D);
         auto g = a.floats("gamma", 2 * D), b = a.floats("beta", 2 * D);
         std::vector<float> y(rows * 2 * D);
         cpu::layer_norm_concat(x0.data(), x1.data(), rows, D, a.f("eps"), g.data(), b.data(), y.data());
         return y;
       }},
      {"modulate", [](const Args& a) { return modulate_kernel(a, false); }},
      {"layer_norm_modulate", [](const Args& a) { return modulate_kernel(a, true); }},
      {"gate_residual",
       [](const Args& a) {
         const int64_t G = a.i("G"), N = a.i("N"), D = a.i("D"), rep = a.i("repeat"), stride = a.i("stride");
         if (rep < 1 || G % rep || a.i("gateCol") + D > stride) throw_invalid("gate_residual: inconsistent repeat/stride");
         auto h = a.floats("h", G * N * D), y = a.floats("y", G * N * D), mod = a.floats("mod", (G / rep) * stride);
         cpu::gate_residual(h.data(), y.data(), G, N, D, {mod.data(), stride, rep}, a.i("gateCol"));
         return h;
       }},
      {"gelu_tanh",
       [](const Args& a) {
         auto x = a.floats("x", a.i("n"));
         cpu::gelu_tanh(x.data(), int64_t(x.size()), x.data());
         return x;
       }},
      {"silu",
       [](const Args& a) {
         auto x = a.floats("x", a.i("n"));
         cpu::silu(x.data(), int64_t(x.size()), x.data());
         return x;
       }},
      {"attention",
       [](const Args& a) {
         const int64_t G = a.i("G"), N = a.i("N"), H = a.i("H"), hd = a.i("hd");
         auto qkv = a.floats("qkv", G * N * 3 * H * hd);
         std::vector<float> out(G * N * H * hd);
         cpu::attention(qkv.data(), G, N, H, hd, out.data(), a.has("bf16") && a.i("bf16"));
         return out;
       }},
      {"patch_embed",
       [](const Args& a) {
         const int64_t B = a.i("B"), C = a.i("C"), Hs = a.i("H"), Ws = a.i("W"), p = a.i("p"), D = a.i("D");
         if (p < 1 || Hs % p || Ws % p) throw_invalid("patch_embed: H and W must be multiples of p");
         const int64_t T = (Hs / p) * (Ws / p);
         auto x = a.floats("x", B * C * Hs * Ws), w = a.floats("w", D * C * p * p), b = a.floats("bias", D);
         std::vector<float> cols(B * T * C * p * p), out(B * T * D);
         cpu::patch_embed(x.data(), B, C, Hs, Ws, p, w.data(), b.data(), D, cols.data(), out.data());
         return out;
       }},
      {"pos_embed_2d",
       [](const Args& a) {
         std::vector<float> out(a.i("G") * a.i("G") * a.i("D"));
         cpu::pos_embed_2d(a.i("D"), a.i("G"), out.data());
         return out;
       }},
      {"pos_embed_1d",
       [](const Args& a) {
         std::vector<float> out(a.i("F") * a.i("D"));
         cpu::pos_embed_1d(a.i("D"), a.i("F"), out.data());
         return out;
       }},
      {"timestep_frequencies",
       [](const Args& a) {
         const int64_t B = a.i("B"), dim = a.i("dim");
         auto t = a.floats("t", B);
         std::vector<float> out(B * dim);
         cpu::timestep_frequencies(t.data(), B, dim, out.data());
         return out;
       }},
      {"embedding",
       [](const Args& a) {
         const int64_t R = a.i("rows"), D = a.i("D"), B = a.i("B");
         auto table = a.floats("table", R * D);
         auto y = a.labels("labels", B);
         for (int64_t v : y)
           if (v < 0 || v >= R) throw_invalid("embedding: label out of range");
         std::vector<float> out(B * D);
         cpu::embedding_lookup(table.data(), D, y.data(), B, out.data());
         return out;
       }},
      {"unpatchify",
       [](const Args& a) {
         const int64_t B = a.i("B"), G = a.i("G"), p = a.i("p"), C = a.i("C");
         auto tokens = a.floats("tokens", B * G * G * p * p * C);
         std::vector<float> out(tokens.size());
         cpu::unpatchify(tokens.data(), B, G, G, p, C, out.data());
         return out;
       }},
      {"swap_token_axes",
       [](const Args& a) {
         const int64_t B = a.i("B"), A1 = a.i("A1"), A2 = a.i("A2"), D = a.i("D");
         auto x = a.floats("x", B * A1 * A2 * D);
         std::vector<float> y(x.size());
         cpu::swap_token_axes(x.data(), B, A1, A2, D, y.data());
         return y;
       }},
      {"conv2d",
       [](const Args& a) {
         const int64_t B = a.i("B"), Cin = a.i("Cin"), H = a.i("H"), W = a.i("W"), Cout = a.i("Cout"), k = a.i("k");
         if (k % 2 == 0) throw_invalid("conv2d: k must be odd");
         auto x = a.floats("x", B * Cin * H * W), w = a.floats("w", Cout * Cin * k * k), b = a.floats("bias", Cout);
         std::vector<float> packed(cpu::gemm_packed_floats(Cout, Cin * k * k)), scratch(cpu::conv_scratch_floats(Cin, Cout, k)),
             y(B * Cout * H * W);
         cpu::gemm_pack(w.data(), Cout, Cin * k * k, packed.data());
         cpu::conv2d_same(x.data(), B, Cin, H, W, packed.data(), b.data(), Cout, k, scratch.data(), y.data());
         return y;
       }},
      {"group_norm",
       [](const Args& a) {
         const int64_t B = a.i("B"), C = a.i("C"), HW = a.i("HW"), G = a.i("groups");
         if (G < 1 || C % G) throw_invalid("group_norm: C must be a multiple of groups");
         auto x = a.floats("x", B * C * HW), g = a.floats("gamma", C), b = a.floats("beta", C);
         std::vector<float> y(x.size());
         cpu::group_norm(x.data(), B, C, HW, G, a.f("eps"), g.data(), b.data(), a.has("silu") && a.i("silu"), y.data());
         return y;
       }},
      {"upsample_nearest2x",
       [](const Args& a) {
         const int64_t N = a.i("N"), H = a.i("H"), W = a.i("W");
         auto x = a.floats("x", N * H * W);
         std::vector<float> y(N * 4 * H * W);
         cpu::upsample_nearest2x(x.data(), N, H, W, y.data());
         return y;
       }},
      {"cfg_guidance",
       [](const Args& a) {
         const int64_t B = a.i("B"), F = a.i("F"), C = a.i("C"), HW = a.i("HW"), g = a.i("guided");
         if (B % 2 || g > C) throw_invalid("cfg_guidance: B must be even and guided <= C");
         auto raw = a.floats("raw", B * F * C * HW);
         std::vector<float> out(raw.size());
         cpu::cfg_guidance(raw.data(), B, F, C, HW, g, a.f("scale"), a.i("uncondFirst") != 0, out.data());
         return out;
       }},
  };
  return table;
}

Napi::Value RunKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SKIPDIT_JS_TRY
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject())
    throw_invalid("runKernel(name: string, args: object)");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  auto it = kernels().find(name);
  if (it == kernels().end()) throw_invalid("Expected a kernel name for name but received '" + name + "'");
  std::vector<float> out = it->second(Args(info[1].As<Napi::Object>()));
  return to_f32_array(env, out.data(), out.size());
  SKIPDIT_JS_CATCH(env)
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (auto& [name, fn] : kernels()) a.Set(i++, name);
  return a;
}

}  // namespace

Napi::Object InitKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("runKernel", Napi::Function::New(env, RunKernel, "runKernel"));
  exports.Set("kernelNames", Napi::Function::New(env, KernelNames, "kernelNames"));
  return exports;
}

}  // namespace skipdit::bindings
