// CpuBackend: checks shapes, then calls the plain kernels of native/cpu/ops on host memory.
#include <cstdlib>
#include <cstring>

#include "backend/backend.h"
#include "cpu/ops/activations.h"
#include "cpu/ops/attention.h"
#include "cpu/ops/cfg_guidance.h"
#include "cpu/ops/sampler_update.h"
#include "cpu/ops/gemm.h"
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
#include "core/dtype_convert.h"
#include "cpu/ops/conv2d.h"
#include "cpu/ops/group_norm.h"
#include "cpu/ops/upsample.h"

namespace skipdit {

namespace {

// A shape mismatch inside the graph is a bug (inputs are validated before); report it precisely.
#define EXPECT_SHAPE(cond, op, t) SKIPDIT_CHECK(cond, std::string(op) + ": unexpected shape " + (t).describe())

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(Precision precision) : precision_(precision) {
    // bf16 weights on the dot-product kernel round every GEMM input to bf16: the tensors that only feed GEMMs
    // are then stored rounded (half the bytes, no rounding pass; bit-identical results).
    // SKIPDIT_CPU_BF16_OPERANDS=0 keeps them float32, for comparison.
    const char* env = std::getenv("SKIPDIT_CPU_BF16_OPERANDS");
    bf16_operands_ = precision_ == Precision::BF16 && std::strcmp(cpu::gemm_bf16_kernel_name(), "avx512bf16") == 0 &&
                     !(env && std::strcmp(env, "0") == 0);
  }
  DType operand_dtype() const override { return bf16_operands_ ? DType::BF16 : DType::F32; }
  std::string name() const override { return "cpu"; }
  Device device() const override { return Device::CPU; }

  Tensor empty(DType dtype, const Shape& shape) override { return Tensor::host(dtype, shape); }

  Tensor upload_f32(const Tensor& host) override {
    Tensor out = Tensor::host(DType::F32, host.shape());
    convert_to_f32(host, out.f32());
    return out;
  }

  void download(const Tensor& src, float* dst) override {
    if (src.dtype() == DType::F32) std::memcpy(dst, src.f32(), src.numel() * sizeof(float));
    else convert_to_f32(src, dst);
  }

  void copy(const Tensor& src, Tensor& dst) override {
    EXPECT_SHAPE(src.numel() == dst.numel() && src.dtype() == dst.dtype(), "copy", dst);
    std::memmove(dst.raw(), src.raw(), src.nbytes());
  }

  void convert(const Tensor& src, Tensor& dst) override {
    EXPECT_SHAPE(src.numel() == dst.numel(), "convert", dst);
    if (dst.dtype() == DType::F32) return convert_to_f32(src, dst.f32());
    SKIPDIT_CHECK(src.dtype() == DType::F32 && dst.dtype() == DType::BF16,
                  "convert: " + src.describe() + " -> " + dst.describe() + " is not supported on the CPU");
    cpu::round_to_bf16(src.f32(), src.numel(), static_cast<uint16_t*>(dst.raw()));
  }

  // Packed panels: F32 tensor for float32 weights, BF16 tensor for bfloat16 ones (1-d, see gemm.h).
  Tensor prepare_linear(const Tensor& w) override {
    if (!w.defined()) return w;
    EXPECT_SHAPE(w.ndim() == 2, "prepare_linear", w);
    const int64_t N = w.dim(0), K = w.dim(1);
    if (precision_ == Precision::BF16) {
      Tensor packed = Tensor::host(DType::BF16, {cpu::gemm_packed_bf16_count(N, K)});
      cpu::gemm_pack_bf16(w.f32(), N, K, static_cast<uint16_t*>(packed.raw()));
      return packed;
    }
    Tensor packed = Tensor::host(DType::F32, {cpu::gemm_packed_floats(N, K)});
    cpu::gemm_pack(w.f32(), N, K, packed.f32());
    return packed;
  }

  void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, Activation act) override {
    cpu::GemmEpilogue ep;
    ep.act = act == Activation::GeluTanh ? cpu::Epilogue::GeluTanh : cpu::Epilogue::None;
    if (w.ndim() == 1) {
      gemm(x, w, bias, y, ep);
      return;
    }
    const int64_t K = x.dim(-1), M = x.numel() / K, N = w.dim(0);
    EXPECT_SHAPE(w.ndim() == 2 && w.dim(1) == K, "linear weight", w);
    EXPECT_SHAPE(y.numel() == M * N && y.dim(-1) == N, "linear output", y);
    EXPECT_SHAPE(!bias.defined() || bias.numel() == N, "linear bias", bias);
    cpu::linear(x.f32(), M, K, w.f32(), bias.defined() ? bias.f32() : nullptr, N, y.f32(), ep.act);
  }

  void linear_gate_residual(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& mod,
                            int64_t group_repeat, int gate_chunk, Tensor& h, Tensor& scratch) override {
    if (w.ndim() != 1) {  // an unpacked weight: the two-step default
      Backend::linear_gate_residual(x, w, bias, mod, group_repeat, gate_chunk, h, scratch);
      return;
    }
    EXPECT_SHAPE(h.ndim() == 3, "linear_gate_residual", h);
    const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2);
    const cpu::CondRows cond = cond_rows(mod, group_repeat, G, D);
    cpu::GemmEpilogue ep;
    ep.gate = cond.row(0, gate_chunk * D);
    ep.gate_rows = N * group_repeat;  // the token rows of group_repeat groups share one conditioning row
    ep.gate_stride = cond.stride;
    gemm(x, w, bias, h, ep);
  }

  void layer_norm(const Tensor& x, float eps, const Tensor& gamma, const Tensor& beta, Tensor& y) override {
    const int64_t D = x.dim(-1);
    EXPECT_SHAPE(y.numel() == x.numel(), "layer_norm output", y);
    EXPECT_SHAPE(!gamma.defined() || (gamma.numel() == D && beta.numel() == D), "layer_norm affine", gamma);
    cpu::layer_norm(x.f32(), x.numel() / D, D, eps, gamma.defined() ? gamma.f32() : nullptr,
                    beta.defined() ? beta.f32() : nullptr, y.f32());
  }

  void layer_norm_concat(const Tensor& a, const Tensor& b, float eps, const Tensor& gamma, const Tensor& beta,
                         Tensor& y) override {
    const int64_t D = a.dim(-1), rows = a.numel() / D;
    EXPECT_SHAPE(b.numel() == a.numel() && y.numel() == 2 * a.numel(), "layer_norm_concat", y);
    EXPECT_SHAPE(gamma.numel() == 2 * D && beta.numel() == 2 * D, "layer_norm_concat affine", gamma);
    cpu::layer_norm_concat(a.f32(), b.f32(), rows, D, eps, gamma.f32(), beta.f32(), f32_or_null(y), bf16_or_null(y));
  }

  void layer_norm_modulate(const Tensor& x, float eps, const Tensor& mod, int64_t group_repeat, int shift_chunk,
                           int scale_chunk, Tensor& y) override {
    EXPECT_SHAPE(x.ndim() == 3 && y.numel() == x.numel(), "layer_norm_modulate", x);
    const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
    cpu::layer_norm_modulate(x.f32(), G, N, D, eps, cond_rows(mod, group_repeat, G, D), shift_chunk * D,
                             scale_chunk * D, f32_or_null(y), bf16_or_null(y));
  }

  cpu::CondRows cond_rows(const Tensor& mod, int64_t group_repeat, int64_t G, int64_t D) {
    EXPECT_SHAPE(mod.ndim() == 2 && mod.dim(1) % D == 0, "adaLN modulation", mod);
    EXPECT_SHAPE(group_repeat > 0 && G % group_repeat == 0 && G / group_repeat == mod.dim(0), "adaLN rows", mod);
    return {mod.f32(), mod.dim(1), group_repeat};
  }

  void modulate(const Tensor& x, const Tensor& mod, int64_t group_repeat, int shift_chunk, int scale_chunk,
                Tensor& y) override {
    EXPECT_SHAPE(x.ndim() == 3 && y.numel() == x.numel(), "modulate", x);
    const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
    cpu::modulate(x.f32(), G, N, D, cond_rows(mod, group_repeat, G, D), shift_chunk * D, scale_chunk * D, y.f32());
  }

  void gate_residual(Tensor& h, const Tensor& y, const Tensor& mod, int64_t group_repeat, int gate_chunk) override {
    EXPECT_SHAPE(h.ndim() == 3 && y.numel() == h.numel(), "gate_residual", h);
    const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2);
    cpu::gate_residual(h.f32(), y.f32(), G, N, D, cond_rows(mod, group_repeat, G, D), gate_chunk * D);
  }

  void silu(const Tensor& x, Tensor& y) override {
    EXPECT_SHAPE(y.numel() == x.numel(), "silu", y);
    cpu::silu(x.f32(), x.numel(), y.f32());
  }

  void gelu_tanh(const Tensor& x, Tensor& y) override {
    EXPECT_SHAPE(y.numel() == x.numel(), "gelu_tanh", y);
    cpu::gelu_tanh(x.f32(), x.numel(), y.f32());
  }

  void add(Tensor& x, const Tensor& y) override {
    EXPECT_SHAPE(y.numel() == x.numel(), "add", y);
    float* xp = x.f32();
    const float* yp = y.f32();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) xp[i] += yp[i];
  }

  void add_broadcast_rows(Tensor& x, const Tensor& e) override {
    EXPECT_SHAPE(x.ndim() == 3 && e.numel() == x.dim(1) * x.dim(2), "add_broadcast_rows", e);
    cpu::add_broadcast_rows(x.f32(), x.dim(0), x.dim(1), x.dim(2), e.f32());
  }

  void attention(const Tensor& qkv, int64_t heads, Tensor& out) override {
    EXPECT_SHAPE(qkv.ndim() == 3 && qkv.dim(2) % (3 * heads) == 0, "attention qkv", qkv);
    const int64_t G = qkv.dim(0), N = qkv.dim(1), D = qkv.dim(2) / 3;
    EXPECT_SHAPE(out.numel() == G * N * D, "attention output", out);
    cpu::attention(qkv.f32(), G, N, heads, D / heads, out.f32(), precision_ == Precision::BF16);
  }

  void patch_embed(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& cols, Tensor& tokens) override {
    EXPECT_SHAPE(x.ndim() == 4 && w.ndim() == 4 && w.dim(1) == x.dim(1) && w.dim(2) == w.dim(3), "patch_embed", w);
    const int64_t B = x.dim(0), C = x.dim(1), Hs = x.dim(2), Ws = x.dim(3), p = w.dim(2), D = w.dim(0);
    EXPECT_SHAPE(Hs % p == 0 && Ws % p == 0, "patch_embed input", x);
    const int64_t T = (Hs / p) * (Ws / p);
    EXPECT_SHAPE(cols.numel() >= B * T * C * p * p && tokens.numel() == B * T * D, "patch_embed output", tokens);
    cpu::patch_embed(x.f32(), B, C, Hs, Ws, p, w.f32(), bias.f32(), D, cols.f32(), tokens.f32());
  }

  void timestep_frequencies(const Tensor& t, Tensor& out) override {
    EXPECT_SHAPE(out.ndim() == 2 && out.dim(0) == t.numel(), "timestep_frequencies", out);
    cpu::timestep_frequencies(t.f32(), t.numel(), out.dim(1), out.f32());
  }

  void embedding(const Tensor& table, const Tensor& labels, Tensor& out) override {
    const int64_t rows = table.dim(0), D = table.dim(1), B = labels.numel();
    EXPECT_SHAPE(out.numel() == B * D, "embedding output", out);
    const int64_t* y = labels.i64();
    for (int64_t b = 0; b < B; ++b)
      if (y[b] < 0 || y[b] >= rows)
        fail(ErrorKind::InvalidArgument, "label " + std::to_string(y[b]) + " at index " + std::to_string(b) +
                                             " is outside the embedding table [0, " + std::to_string(rows) + ")");
    cpu::embedding_lookup(table.f32(), D, y, B, out.f32());
  }

  void unpatchify(const Tensor& tokens, int64_t patch, Tensor& out) override {
    EXPECT_SHAPE(tokens.ndim() == 3 && out.ndim() == 4, "unpatchify", out);
    const int64_t B = tokens.dim(0), C = out.dim(1), G = out.dim(2) / patch;
    EXPECT_SHAPE(tokens.dim(1) == G * G && tokens.dim(2) == patch * patch * C && out.dim(0) == B, "unpatchify", tokens);
    cpu::unpatchify(tokens.f32(), B, G, patch, C, out.f32());
  }

  void swap_token_axes(const Tensor& x, int64_t batch, Tensor& y) override {
    EXPECT_SHAPE(x.ndim() == 3 && x.dim(0) % batch == 0 && y.numel() == x.numel(), "swap_token_axes", x);
    const int64_t A1 = x.dim(0) / batch, A2 = x.dim(1), D = x.dim(2);
    EXPECT_SHAPE(y.ndim() == 3 && y.dim(0) == batch * A2 && y.dim(1) == A1, "swap_token_axes output", y);
    cpu::swap_token_axes(x.f32(), batch, A1, A2, D, y.f32());
  }

  void cfg_guidance(const Tensor& raw, int64_t frames, int64_t channels, int64_t guided_channels, float scale,
                    Tensor& out) override {
    const int64_t B = raw.dim(0), HW = raw.numel() / (B * frames * channels);
    EXPECT_SHAPE(B % 2 == 0 && out.numel() == raw.numel() && guided_channels <= channels, "cfg_guidance", raw);
    cpu::cfg_guidance(raw.f32(), B, frames, channels, HW, guided_channels, scale, out.f32());
  }

  void sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                      const SamplerUpdate& u, Tensor& x) override {
    const bool doubled = check_sampler_update(model_out, outer, channels, noise, u, x);
    cpu::sampler_update(model_out.f32(), doubled, outer, channels, x.numel() / (outer * channels),
                        u.needs_noise() ? noise.f32() : nullptr, u, x.f32());
  }

  // ---- VAE decoder ops
  void group_norm(const Tensor& x, int64_t groups, float eps, const Tensor& gamma, const Tensor& beta, bool silu,
                  Tensor& y) override {
    EXPECT_SHAPE(x.ndim() == 4 && y.numel() == x.numel() && groups > 0 && x.dim(1) % groups == 0, "group_norm", x);
    EXPECT_SHAPE(gamma.numel() == x.dim(1) && beta.numel() == x.dim(1), "group_norm affine", gamma);
    cpu::group_norm(x.f32(), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), groups, eps, gamma.f32(), beta.f32(), silu,
                    y.f32());
  }

  void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t k, Tensor& y) override {
    EXPECT_SHAPE(x.ndim() == 4 && y.ndim() == 4 && k % 2 == 1, "conv2d", x);
    const int64_t B = x.dim(0), Cin = x.dim(1), H = x.dim(2), W = x.dim(3), Cout = y.dim(1);
    EXPECT_SHAPE(y.dim(0) == B && y.dim(2) == H && y.dim(3) == W && bias.numel() == Cout, "conv2d output", y);
    EXPECT_SHAPE(w.ndim() == 1 && w.numel() == cpu::gemm_packed_floats(Cout, Cin * k * k), "conv2d weight", w);
    Tensor scratch = Tensor::host(DType::F32, {cpu::conv_scratch_floats(Cin, Cout, k)});
    cpu::conv2d_same(x.f32(), B, Cin, H, W, w.f32(), bias.f32(), Cout, k, scratch.f32(), y.f32());
  }

  void upsample_nearest2x(const Tensor& x, Tensor& y) override {
    EXPECT_SHAPE(x.ndim() == 4 && y.ndim() == 4 && y.numel() == 4 * x.numel(), "upsample_nearest2x", y);
    cpu::upsample_nearest2x(x.f32(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), y.f32());
  }

 private:
  // y (M, N) = epilogue(x (M, K) @ W^T) with W packed by prepare_linear (either precision).
  void gemm(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, cpu::GemmEpilogue ep) {
    const int64_t K = x.dim(-1), M = x.numel() / K, N = y.dim(-1);
    EXPECT_SHAPE(y.numel() == M * N, "linear (packed) output", y);
    EXPECT_SHAPE(!bias.defined() || bias.numel() == N, "linear bias", bias);
    ep.bias = bias.defined() ? bias.f32() : nullptr;
    if (x.dtype() == DType::BF16) {  // an operand stored in bf16 (operand_dtype); y is float32 or bf16
      EXPECT_SHAPE(w.dtype() == DType::BF16 && bf16_operands_, "linear with bf16 operands: weight", w);
      EXPECT_SHAPE(w.numel() == cpu::gemm_packed_bf16_count(N, K), "linear (packed bf16)", w);
      // rows of whole (k, k+1) pairs: operand widths are D, 2D and 4D with D a multiple of 4 (2-d sincos)
      EXPECT_SHAPE(K % 2 == 0, "linear with bf16 operands: an even row length", x);
      ep.out_bf16 = bf16_or_null(y);
      cpu::gemm_packed_bf16_rounded(static_cast<const uint16_t*>(x.raw()), M, K, K / 2,
                                    static_cast<const uint16_t*>(w.raw()), N, f32_or_null(y), N, ep);
      return;
    }
    if (w.dtype() == DType::BF16) {
      EXPECT_SHAPE(w.numel() == cpu::gemm_packed_bf16_count(N, K), "linear (packed bf16)", w);
      cpu::gemm_packed_bf16(x.f32(), M, K, K, static_cast<const uint16_t*>(w.raw()), N, y.f32(), ep);
    } else {
      EXPECT_SHAPE(w.numel() == cpu::gemm_packed_floats(N, K), "linear (packed)", w);
      cpu::gemm_packed(x.f32(), M, K, K, w.f32(), N, y.f32(), ep);
    }
  }

  static float* f32_or_null(const Tensor& t) { return t.dtype() == DType::F32 ? t.f32() : nullptr; }
  static uint16_t* bf16_or_null(const Tensor& t) {
    if (t.dtype() == DType::F32) return nullptr;
    EXPECT_SHAPE(t.dtype() == DType::BF16, "a float32 or bf16 tensor", t);
    return static_cast<uint16_t*>(t.raw());
  }

  Precision precision_;
  bool bf16_operands_ = false;
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend(Precision precision) { return std::make_shared<CpuBackend>(precision); }

}  // namespace skipdit
