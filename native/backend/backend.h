// The compute interface the model graph is written against. One implementation per device: CpuBackend
// now (native/cpu), a CUDA backend later (native/cuda holds its device layer today). Every op takes
// tensors that live in the backend's memory, checks their shapes, and writes a preallocated output.
// Shapes use: B batch, G token groups (sequences), N tokens per group, D hidden, Bc conditioning rows.
#pragma once
#include <memory>
#include <string>

#include "core/tensor.h"

namespace skipdit {

enum class Activation { None, GeluTanh };

// The per-step scalars of one sampler update, float32 values computed by the caller from the diffusion tables
// (lib/samplers.ts `coefficients`); the op does the elementwise part in the official float32 order.
// Both kinds start from x0 = sqrt_recip_ac * x - sqrt_recipm1_ac * eps (_predict_xstart_from_eps).
struct SamplerUpdate {
  enum class Kind { DDIM, DDPM };
  Kind kind = Kind::DDIM;
  float sqrt_recip_ac = 0, sqrt_recipm1_ac = 0;
  // DDIM: x = x0 * sqrt_ac_prev + dir_coef * eps' (+ noise_scale * noise when noise_scale != 0),
  // eps' = (sqrt_recip_ac * x - x0) / sqrt_recipm1_ac (_predict_eps_from_xstart).
  float sqrt_ac_prev = 0, dir_coef = 0, noise_scale = 0;
  // DDPM: mean = coef1 * x0 + coef2 * x; log-variance fixed_log, or with learned_range the interpolation of
  // min_log and max_log by (v + 1) / 2; x = mean + exp(0.5 * log_variance) * noise unless last.
  float coef1 = 0, coef2 = 0, min_log = 0, max_log = 0, fixed_log = 0;
  bool learned_range = false, last = false;
  // Whether the op reads a noise tensor.
  bool needs_noise() const { return kind == Kind::DDIM ? noise_scale != 0 : !last; }
};

// The precision a model's linear weights are stored and multiplied in. Activations, statistics and
// accumulation stay float32 on CPU. CPU: F32, or BF16 weights (dot products in bf16 with fp32 accumulation,
// AVX-512 BF16 where the CPU has it). CUDA: F32, BF16 or F16 weights and activations, fp32 accumulation.
enum class Precision { F32, BF16, F16 };
const char* precision_name(Precision p);
// "float32" | "bfloat16" | "float16" -> Precision; InvalidArgument otherwise.
Precision parse_precision(const std::string& name);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;

  // ---- memory
  // The element type of a model's token activations between ops (Workspace::activations): F32 unless the
  // backend stores them in the model precision (CUDA with bfloat16 / float16 weights). Conditioning vectors,
  // adaLN modulation, inputs and outputs stay F32 on every backend.
  virtual DType activation_dtype() const { return DType::F32; }
  // The element type of tensors whose only readers are linear layers (Workspace::operands: the adaLN pre-norm
  // outputs, the MLP hidden layer, the skip-fusion concat). The activation dtype unless a backend rounds GEMM
  // inputs anyway and may as well store them rounded: CPU with bfloat16 weights on AVX-512 BF16.
  virtual DType operand_dtype() const { return activation_dtype(); }
  virtual Tensor empty(DType dtype, const Shape& shape) = 0;
  // A backend-owned float32 copy of a host tensor (F32, F16 or BF16 source; converted once).
  virtual Tensor upload_f32(const Tensor& host) = 0;
  virtual void download(const Tensor& src, float* dst) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // dst = src in dst's element type (same numel): float32 <-> the activation type (bf16 / fp16), rounding to
  // nearest even when narrowing. For tests that run an op at the activation type (runOp).
  virtual void convert(const Tensor& src, Tensor& dst) = 0;
  // Waits until every op issued so far has finished (CUDA: the stream; reports a device fault). Default: nothing.
  virtual void synchronize() {}

  // A linear layer's weight (N, K) in the backend's preferred layout (CPU: packed GEMM panels, a flat
  // tensor), prepared once at load. linear() accepts either form. Undefined stays undefined.
  virtual Tensor prepare_linear(const Tensor& w) { return w; }

  // ---- ops
  // y (M, N) = act(x (M, K) @ w^T + bias (N)); w is (N, K) or prepare_linear(w); bias may be undefined.
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y,
                      Activation act = Activation::None) = 0;
  // y (rows, D) = LayerNorm(x) over D, with affine when gamma/beta are defined. y may be x.
  virtual void layer_norm(const Tensor& x, float eps, const Tensor& gamma, const Tensor& beta, Tensor& y) = 0;
  // y (rows, 2D) = LayerNorm([a, b]) with affine gamma/beta (2D): the skip-fusion norm, concat-free.
  virtual void layer_norm_concat(const Tensor& a, const Tensor& b, float eps, const Tensor& gamma,
                                 const Tensor& beta, Tensor& y) = 0;
  // y (G, N, D) = LayerNorm(x) * (1 + scale) + shift, no affine: the adaLN pre-norm of a block in one pass.
  // Chunks of mod as in modulate(). Default: layer_norm then modulate.
  virtual void layer_norm_modulate(const Tensor& x, float eps, const Tensor& mod, int64_t group_repeat,
                                   int shift_chunk, int scale_chunk, Tensor& y) {
    layer_norm(x, eps, {}, {}, y);
    modulate(y, mod, group_repeat, shift_chunk, scale_chunk, y);
  }
  // x (G, N, D) -> y = x * (1 + scale) + shift; shift/scale are chunks of mod (Bc, k*D), group g uses
  // conditioning row g / group_repeat.
  virtual void modulate(const Tensor& x, const Tensor& mod, int64_t group_repeat, int shift_chunk, int scale_chunk,
                        Tensor& y) = 0;
  // h (G, N, D) += gate * y, gate a chunk of mod as in modulate.
  virtual void gate_residual(Tensor& h, const Tensor& y, const Tensor& mod, int64_t group_repeat, int gate_chunk) = 0;
  // h (G, N, D) += gate * (x (G, N, K) @ w^T + bias): a linear whose epilogue is the gated residual. scratch
  // (G, N, D) may be used for the product. Default: linear into scratch, then gate_residual.
  virtual void linear_gate_residual(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& mod,
                                    int64_t group_repeat, int gate_chunk, Tensor& h, Tensor& scratch) {
    linear(x, w, bias, scratch);
    gate_residual(h, scratch, mod, group_repeat, gate_chunk);
  }
  virtual void silu(const Tensor& x, Tensor& y) = 0;
  virtual void gelu_tanh(const Tensor& x, Tensor& y) = 0;
  // x += y, same shape.
  virtual void add(Tensor& x, const Tensor& y) = 0;
  // x (G, N, D) += e (N, D).
  virtual void add_broadcast_rows(Tensor& x, const Tensor& e) = 0;
  // out (G, N, D) = multi-head softmax(q k^T / sqrt(hd)) v from qkv (G, N, 3D).
  virtual void attention(const Tensor& qkv, int64_t heads, Tensor& out) = 0;
  // tokens (B, T, D) = Conv2d(kernel = stride = p)(x (B, C, H, W)) flattened; cols is scratch (B, T, C*p*p).
  virtual void patch_embed(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& cols, Tensor& tokens) = 0;
  // out (B, dim) = sinusoidal features of t (B) (float32).
  virtual void timestep_frequencies(const Tensor& t, Tensor& out) = 0;
  // out (B, D) = table (R, D)[labels (B, int64)]; labels must be in [0, R).
  virtual void embedding(const Tensor& table, const Tensor& labels, Tensor& out) = 0;
  // out (B, C, G*p, G*p) from tokens (B, G*G, p*p*C).
  virtual void unpatchify(const Tensor& tokens, int64_t patch, Tensor& out) = 0;
  // x (B*A1, A2, D) -> y (B*A2, A1, D).
  virtual void swap_token_axes(const Tensor& x, int64_t batch, Tensor& y) = 0;
  // CFG on raw (B, F, C, ...): see cpu/ops/cfg_guidance.h. frames = F (1 for images).
  virtual void cfg_guidance(const Tensor& raw, int64_t frames, int64_t channels, int64_t guided_channels, float scale,
                            Tensor& out) = 0;
  // The sampler update of one step, in place: x (outer, C, inner) <- update(x, eps, v, noise), where model_out
  // is (outer, C, inner) = eps, or (outer, 2C, inner) = [eps, v] (learn_sigma; DiT: outer = B, Latte: B*F).
  // noise (like x) is read only when u.needs_noise(). Bit-identical to the float32 loop of lib/samplers.ts.
  virtual void sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                              const SamplerUpdate& u, Tensor& x) = 0;

  // ---- VAE decoder ops
  // y (B, C, H, W) = GroupNorm(x) with `groups` groups and affine gamma/beta (C), then SiLU when silu. y may be x.
  virtual void group_norm(const Tensor& x, int64_t groups, float eps, const Tensor& gamma, const Tensor& beta,
                          bool silu, Tensor& y) = 0;
  // y (B, Cout, H, W) = conv(x (B, Cin, H, W)) + bias (Cout): odd k x k kernel, stride 1, same zero padding;
  // w is prepare_linear of the weight viewed as (Cout, Cin*k*k).
  virtual void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t k, Tensor& y) = 0;
  // y (B, C, 2H, 2W) = nearest 2x upsampling of x (B, C, H, W).
  virtual void upsample_nearest2x(const Tensor& x, Tensor& y) = 0;

  // ---- replayable regions (CUDA graphs)
  // A model brackets the ops of one forward, its input uploads included and its download excluded, between
  // begin_region(key) and end_region(ok); key names everything the op sequence and its buffers depend on
  // (model, shapes, cache state). A backend may record a region and replay it for later calls of the same
  // key: meanwhile its ops may return without launching and upload_f32 / embedding only stage their host
  // data. Results are defined after end_region(true). Default: nothing (every op runs eagerly).
  virtual void begin_region(const std::string& key) {}
  virtual void end_region(bool ok) {}
  // Recorded regions launched so far (0 where nothing is recorded): lets a test see that replay happened.
  virtual int64_t region_launches() const { return 0; }
};

// begin_region / end_region as a scope: end() on the normal path, end_region(false) when unwinding. An
// empty key opens no region (taps, for instance, download inside the forward).
class BackendRegion {
 public:
  BackendRegion(Backend& backend, const std::string& key) : backend_(key.empty() ? nullptr : &backend) {
    if (backend_) backend_->begin_region(key);
  }
  BackendRegion(const BackendRegion&) = delete;
  BackendRegion& operator=(const BackendRegion&) = delete;
  void end() {
    Backend* b = backend_;
    backend_ = nullptr;
    if (b) b->end_region(true);
  }
  ~BackendRegion() {
    if (backend_) backend_->end_region(false);
  }

 private:
  Backend* backend_;
};

// Checks the arguments of Backend::sampler_update (Internal error naming the mismatch) and returns whether
// model_out has the variance channels (2C).
bool check_sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                          const SamplerUpdate& u, const Tensor& x);

// The CPU backend (always available). BF16 weights need no special CPU: without AVX-512 BF16 they are
// widened to fp32 inside the GEMM.
std::shared_ptr<Backend> make_cpu_backend(Precision precision = Precision::F32);

}  // namespace skipdit
