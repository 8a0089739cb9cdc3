#include "backend/profiling_backend.h"

namespace skipdit {

namespace {

// 2 * M * N * K for y (M, N) = x (M, K) @ w^T: w may be in a packed layout, so N comes from the output.
double matmul_flops(const Tensor& x, int64_t n) {
  const int64_t k = x.dim(-1);
  return 2.0 * double(x.numel() / k) * double(n) * double(k);
}

}  // namespace

ProfilingBackend::ProfilingBackend(std::shared_ptr<Backend> inner) : inner_(std::move(inner)) {}

void ProfilingBackend::record(ProfiledOp op, std::chrono::steady_clock::duration elapsed, double flops) {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats& s = stats_[static_cast<size_t>(op)];
  s.calls += 1;
  s.seconds += std::chrono::duration<double>(elapsed).count();
  s.flops += flops;
}

template <typename Fn>
auto ProfilingBackend::timed(ProfiledOp op, double flops, Fn&& fn) -> decltype(fn()) {
  struct Recorder {  // records on scope exit, so a throwing op is counted too
    ProfilingBackend* self;
    ProfiledOp op;
    double flops;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~Recorder() { self->record(op, std::chrono::steady_clock::now() - start, flops); }
  } recorder{this, op, flops};
  return fn();
}

std::vector<OpProfile> ProfilingBackend::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<OpProfile> out;
  for (size_t i = 0; i < stats_.size(); ++i) {
    if (stats_[i].calls > 0) out.push_back({kOpNames[i], stats_[i].calls, stats_[i].seconds, stats_[i].flops});
  }
  return out;
}

void ProfilingBackend::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_ = {};
}

void ProfilingBackend::end_region(bool ok) {
  const int64_t launches = inner_->region_launches();
  const auto start = std::chrono::steady_clock::now();
  inner_->end_region(ok);
  if (inner_->region_launches() > launches) record(ProfiledOp::GraphLaunch, std::chrono::steady_clock::now() - start, 0);
}

Tensor ProfilingBackend::empty(DType dtype, const Shape& shape) {
  return timed(ProfiledOp::Empty, 0, [&] { return inner_->empty(dtype, shape); });
}
Tensor ProfilingBackend::upload_f32(const Tensor& host) {
  return timed(ProfiledOp::UploadF32, 0, [&] { return inner_->upload_f32(host); });
}
void ProfilingBackend::download(const Tensor& src, float* dst) {
  timed(ProfiledOp::Download, 0, [&] { inner_->download(src, dst); });
}
void ProfilingBackend::convert(const Tensor& src, Tensor& dst) {
  timed(ProfiledOp::Convert, 0, [&] { inner_->convert(src, dst); });
}
void ProfilingBackend::copy(const Tensor& src, Tensor& dst) {
  timed(ProfiledOp::Copy, 0, [&] { inner_->copy(src, dst); });
}
Tensor ProfilingBackend::prepare_linear(const Tensor& w) {
  return timed(ProfiledOp::PrepareLinear, 0, [&] { return inner_->prepare_linear(w); });
}

void ProfilingBackend::linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, Activation act) {
  timed(ProfiledOp::Linear, matmul_flops(x, y.dim(-1)), [&] { inner_->linear(x, w, bias, y, act); });
}
void ProfilingBackend::layer_norm(const Tensor& x, float eps, const Tensor& gamma, const Tensor& beta, Tensor& y) {
  timed(ProfiledOp::LayerNorm, 0, [&] { inner_->layer_norm(x, eps, gamma, beta, y); });
}
void ProfilingBackend::layer_norm_concat(const Tensor& a, const Tensor& b, float eps, const Tensor& gamma,
                                         const Tensor& beta, Tensor& y) {
  timed(ProfiledOp::LayerNormConcat, 0, [&] { inner_->layer_norm_concat(a, b, eps, gamma, beta, y); });
}
void ProfilingBackend::layer_norm_modulate(const Tensor& x, float eps, const Tensor& mod, int64_t group_repeat,
                                           int shift_chunk, int scale_chunk, Tensor& y) {
  timed(ProfiledOp::LayerNormModulate, 0,
        [&] { inner_->layer_norm_modulate(x, eps, mod, group_repeat, shift_chunk, scale_chunk, y); });
}
void ProfilingBackend::modulate(const Tensor& x, const Tensor& mod, int64_t group_repeat, int shift_chunk,
                                int scale_chunk, Tensor& y) {
  timed(ProfiledOp::Modulate, 0, [&] { inner_->modulate(x, mod, group_repeat, shift_chunk, scale_chunk, y); });
}
void ProfilingBackend::gate_residual(Tensor& h, const Tensor& y, const Tensor& mod, int64_t group_repeat,
                                     int gate_chunk) {
  timed(ProfiledOp::GateResidual, 0, [&] { inner_->gate_residual(h, y, mod, group_repeat, gate_chunk); });
}
void ProfilingBackend::linear_gate_residual(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& mod,
                                            int64_t group_repeat, int gate_chunk, Tensor& h, Tensor& scratch) {
  // h (G, N, D) += gate * (x (G, N, K) @ w^T + bias)
  timed(ProfiledOp::LinearGateResidual, matmul_flops(x, h.dim(-1)),
        [&] { inner_->linear_gate_residual(x, w, bias, mod, group_repeat, gate_chunk, h, scratch); });
}
void ProfilingBackend::silu(const Tensor& x, Tensor& y) {
  timed(ProfiledOp::Silu, 0, [&] { inner_->silu(x, y); });
}
void ProfilingBackend::gelu_tanh(const Tensor& x, Tensor& y) {
  timed(ProfiledOp::GeluTanh, 0, [&] { inner_->gelu_tanh(x, y); });
}
void ProfilingBackend::add(Tensor& x, const Tensor& y) {
  timed(ProfiledOp::Add, 0, [&] { inner_->add(x, y); });
}
void ProfilingBackend::add_broadcast_rows(Tensor& x, const Tensor& e) {
  timed(ProfiledOp::AddBroadcastRows, 0, [&] { inner_->add_broadcast_rows(x, e); });
}
void ProfilingBackend::attention(const Tensor& qkv, int64_t heads, Tensor& out) {
  // qkv (G, N, 3D): q k^T and p v are 2 * G * N * N * D each
  const double g = double(qkv.dim(0)), n = double(qkv.dim(1)), d = double(qkv.dim(2) / 3);
  timed(ProfiledOp::Attention, 4.0 * g * n * n * d, [&] { inner_->attention(qkv, heads, out); });
}
void ProfilingBackend::patch_embed(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& cols,
                                   Tensor& tokens) {
  // cols (B, T, C*p*p) @ w^T -> tokens (B, T, D)
  timed(ProfiledOp::PatchEmbed, matmul_flops(cols, tokens.dim(-1)),
        [&] { inner_->patch_embed(x, w, bias, cols, tokens); });
}
void ProfilingBackend::timestep_frequencies(const Tensor& t, Tensor& out) {
  timed(ProfiledOp::TimestepFrequencies, 0, [&] { inner_->timestep_frequencies(t, out); });
}
void ProfilingBackend::embedding(const Tensor& table, const Tensor& labels, Tensor& out) {
  timed(ProfiledOp::Embedding, 0, [&] { inner_->embedding(table, labels, out); });
}
void ProfilingBackend::unpatchify(const Tensor& tokens, int64_t patch, Tensor& out) {
  timed(ProfiledOp::Unpatchify, 0, [&] { inner_->unpatchify(tokens, patch, out); });
}
void ProfilingBackend::swap_token_axes(const Tensor& x, int64_t batch, Tensor& y) {
  timed(ProfiledOp::SwapTokenAxes, 0, [&] { inner_->swap_token_axes(x, batch, y); });
}
void ProfilingBackend::cfg_guidance(const Tensor& raw, int64_t frames, int64_t channels, int64_t guided_channels,
                                    float scale, Tensor& out) {
  timed(ProfiledOp::CfgGuidance, 0,
        [&] { inner_->cfg_guidance(raw, frames, channels, guided_channels, scale, out); });
}
void ProfilingBackend::sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                                      const SamplerUpdate& u, Tensor& x) {
  timed(ProfiledOp::SamplerUpdate, 0, [&] { inner_->sampler_update(model_out, outer, channels, noise, u, x); });
}

void ProfilingBackend::group_norm(const Tensor& x, int64_t groups, float eps, const Tensor& gamma, const Tensor& beta,
                                  bool silu, Tensor& y) {
  timed(ProfiledOp::GroupNorm, 0, [&] { inner_->group_norm(x, groups, eps, gamma, beta, silu, y); });
}
void ProfilingBackend::conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t k, Tensor& y) {
  // y (B, Cout, H, W) from x (B, Cin, H, W): 2 * B*H*W * Cout * Cin*k*k
  const double flops = 2.0 * double(y.numel()) * double(x.dim(1) * k * k);
  timed(ProfiledOp::Conv2d, flops, [&] { inner_->conv2d(x, w, bias, k, y); });
}
void ProfilingBackend::upsample_nearest2x(const Tensor& x, Tensor& y) {
  timed(ProfiledOp::UpsampleNearest2x, 0, [&] { inner_->upsample_nearest2x(x, y); });
}

}  // namespace skipdit
