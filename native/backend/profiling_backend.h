// ProfilingBackend: a Backend decorator that forwards every call to an inner backend and accumulates, per
// op, the call count, the wall time (std::chrono::steady_clock) and, where cheap to tell from the shapes,
// the FLOPs (multiply-add = 2). Enabled per model at load (`loadModel(path, { profile: true })`) and read back
// with NativeModel.profile().
//
// Wall time per call is the op's time only for synchronous backends (CPU). A CUDA backend returns before
// its kernels finish; profiling it needs a device sync per op (not done here).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace skipdit {

// Every Backend method except name() / device(), and graph launches; kOpNames keeps the same order.
enum class ProfiledOp {
  Empty, UploadF32, Download, Copy, Convert, PrepareLinear,
  Linear, LayerNorm, LayerNormConcat, LayerNormModulate, Modulate, GateResidual, LinearGateResidual,
  Silu, GeluTanh, Add, AddBroadcastRows, Attention, PatchEmbed, TimestepFrequencies, Embedding, Unpatchify,
  SwapTokenAxes, CfgGuidance, SamplerUpdate, GroupNorm, Conv2d, UpsampleNearest2x, GraphLaunch,
  Count
};
inline constexpr std::array<const char*, static_cast<size_t>(ProfiledOp::Count)> kOpNames = {
    "empty", "upload_f32", "download", "copy", "convert", "prepare_linear",
    "linear", "layer_norm", "layer_norm_concat", "layer_norm_modulate", "modulate", "gate_residual",
    "linear_gate_residual", "silu", "gelu_tanh", "add", "add_broadcast_rows", "attention", "patch_embed",
    "timestep_frequencies", "embedding", "unpatchify", "swap_token_axes", "cfg_guidance",
    "sampler_update", "group_norm", "conv2d", "upsample_nearest2x", "graph_launch"};
static_assert(kOpNames.back() != nullptr, "one name per ProfiledOp");

struct OpProfile {
  std::string op;
  int64_t calls = 0;
  double seconds = 0;
  double flops = 0;  // 0 for ops whose FLOPs are not counted
};

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(std::shared_ptr<Backend> inner);

  // The ops called since construction or the last reset, in ProfiledOp order, calls > 0 only.
  std::vector<OpProfile> snapshot() const;
  void reset();
  const Backend& inner() const { return *inner_; }

  std::string name() const override { return inner_->name(); }
  Device device() const override { return inner_->device(); }
  // The profiled model must store exactly what the unprofiled one does.
  DType activation_dtype() const override { return inner_->activation_dtype(); }
  DType operand_dtype() const override { return inner_->operand_dtype(); }

  Tensor empty(DType dtype, const Shape& shape) override;
  Tensor upload_f32(const Tensor& host) override;
  void download(const Tensor& src, float* dst) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void convert(const Tensor& src, Tensor& dst) override;
  Tensor prepare_linear(const Tensor& w) override;

  void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, Activation act) override;
  void layer_norm(const Tensor& x, float eps, const Tensor& gamma, const Tensor& beta, Tensor& y) override;
  void layer_norm_concat(const Tensor& a, const Tensor& b, float eps, const Tensor& gamma, const Tensor& beta,
                         Tensor& y) override;
  void layer_norm_modulate(const Tensor& x, float eps, const Tensor& mod, int64_t group_repeat, int shift_chunk,
                           int scale_chunk, Tensor& y) override;
  void modulate(const Tensor& x, const Tensor& mod, int64_t group_repeat, int shift_chunk, int scale_chunk,
                Tensor& y) override;
  void gate_residual(Tensor& h, const Tensor& y, const Tensor& mod, int64_t group_repeat, int gate_chunk) override;
  void linear_gate_residual(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& mod,
                            int64_t group_repeat, int gate_chunk, Tensor& h, Tensor& scratch) override;
  void silu(const Tensor& x, Tensor& y) override;
  void gelu_tanh(const Tensor& x, Tensor& y) override;
  void add(Tensor& x, const Tensor& y) override;
  void add_broadcast_rows(Tensor& x, const Tensor& e) override;
  void attention(const Tensor& qkv, int64_t heads, Tensor& out) override;
  void patch_embed(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& cols, Tensor& tokens) override;
  void timestep_frequencies(const Tensor& t, Tensor& out) override;
  void embedding(const Tensor& table, const Tensor& labels, Tensor& out) override;
  void unpatchify(const Tensor& tokens, int64_t patch, Tensor& out) override;
  void swap_token_axes(const Tensor& x, int64_t batch, Tensor& y) override;
  void cfg_guidance(const Tensor& raw, int64_t frames, int64_t channels, int64_t guided_channels, float scale,
                    Tensor& out) override;
  void synchronize() override { inner_->synchronize(); }
  // Regions pass through, so a profiled model records and replays CUDA graphs as the unprofiled one does. Ops
  // inside a replayed region return at once (their calls and FLOPs still count); the recorded graph is launched
  // in end_region, timed as the op "graph_launch" (only when a graph was launched: never on the CPU).
  void begin_region(const std::string& key) override { inner_->begin_region(key); }
  void end_region(bool ok) override;
  int64_t region_launches() const override { return inner_->region_launches(); }
  void sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                      const SamplerUpdate& u, Tensor& x) override;
  void group_norm(const Tensor& x, int64_t groups, float eps, const Tensor& gamma, const Tensor& beta, bool silu,
                  Tensor& y) override;
  void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t k, Tensor& y) override;
  void upsample_nearest2x(const Tensor& x, Tensor& y) override;

 private:
  struct Stats {
    int64_t calls = 0;
    double seconds = 0, flops = 0;
  };
  // Runs fn() and adds its wall time (and flops) to op's stats, also when fn throws.
  template <typename Fn>
  auto timed(ProfiledOp op, double flops, Fn&& fn) -> decltype(fn());
  void record(ProfiledOp op, std::chrono::steady_clock::duration elapsed, double flops);

  std::shared_ptr<Backend> inner_;
  mutable std::mutex mutex_;  // snapshot()/reset() may run on the JS thread during a forward
  std::array<Stats, static_cast<size_t>(ProfiledOp::Count)> stats_{};
};

}  // namespace skipdit
