// A DiT / Latte model (with or without Skip-DiT long skip branches) bound to a backend.
//
// Inputs are host tensors in the official layouts: x (B, C, H, W) for DiT, (B, F, C, H, W) for Latte;
// t (B) float32 original timesteps; y (B) int64 labels (undefined for unconditional Latte). The output
// has the layout of x with out_channels channels. forward() is not reentrant: callers serialise it
// (the bindings hold the model's mutex).
#pragma once
#include <cmath>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/skip_cache.h"
#include "model/weights.h"
#include "core/abort.h"
#include "core/progress.h"
#include "graph/arena.h"
#include "graph/profiler.h"
#include "model/family.h"

namespace skipdit {

// Intermediate tensors recorded during a forward (the golden-vector taps). Repeated names stack.
struct Taps {
  struct Entry {
    Shape shape;                      // of one record
    std::vector<std::vector<float>> records;
  };
  std::map<std::string, Entry> entries;
  void record(Backend& backend, const std::string& name, const Tensor& t);
};

struct ForwardInputs {
  Tensor x;  // f32, official layout: a host tensor, or resident in the backend's memory (read in place)
  Tensor t;  // f32 (B), host
  Tensor y;  // i64 (B) or undefined, host
  Tensor text;       // LatteT2V: f32 (B, L, caption_channels), host; undefined for other families
  Tensor text_mask;  // LatteT2V, optional: f32 (B, L) 1 keep / 0 drop (cross-attention bias -10000), host;
                     // HunyuanDiT, required: the BERT tokenizer mask (B, L1) 0/1
  Tensor text_t5;       // HunyuanDiT: f32 (B, L2, C2) mT5 states, host
  Tensor text_t5_mask;  // HunyuanDiT: f32 (B, L2) 0/1, host
  Tensor image_meta;    // HunyuanDiT v1.1 (size_cond): f32 (B, 6) image_meta_size, host
};

// Classifier-free guidance of a call (Model::forward_with_cfg); channels 0: no guidance.
struct Guidance {
  float scale = 0;
  int64_t channels = 0;
};

// Optional parts of a call: taps to record, a Skip-Cache state to advance, and what the call did.
struct ForwardOptions {
  Taps* taps = nullptr;
  SkipCache* cache = nullptr;  // must have been created for this model
  bool force_full = false;     // with a cache: run every block this call (the state advances as usual)
  const std::atomic<bool>* abort = nullptr;  // checked between blocks (core/abort.h); a stopped call changes nothing
};

struct ForwardReport {
  bool cached = false;          // a cached (partial) step
  int64_t blocks_executed = 0;  // transformer blocks that ran
  bool graph = false;           // the backend ran the call as a recorded graph (CUDA graphs; see backend.h)
  double drift = std::nan("");  // a measuring cache: the shallow output's relative change (SkipCache::drift)
  double accumulated = std::nan("");  // an adaptive cache: the drift accumulated since the last full call
};

class Model {
 public:
  // `abort` (may be null) stops the load between tensors (core/abort.h).
  Model(const ModelConfig& config, std::shared_ptr<Backend> backend, const WeightSource& weights,
        const LoadHooks& hooks = {});

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return *backend_; }
  std::mutex& mutex() { return mutex_; }
  size_t weight_bytes() const { return weight_bytes_; }
  // Activation memory held now (the arena of the recorded graphs): updated at the end of every call (safe to
  // read while another call runs).
  size_t workspace_bytes() const { return arena_.bytes(); }
  // After a call the arena is kept for the next one while it is at most `retain` bytes, else released; a failed
  // call always releases it. A call needing more than `max` bytes (0: no cap) fails before allocating.
  // Set before the first call (the binding does at load).
  void set_workspace_limits(size_t retain, size_t max) { arena_.set_limits(retain, max); }
  // Per-op times and FLOPs of every graph the model runs from now on (null: none). Set before the first call.
  void set_profiler(std::shared_ptr<OpProfiler> profiler) { profiler_ = std::move(profiler); }
  const std::shared_ptr<OpProfiler>& profiler() const { return profiler_; }
  const Architecture& architecture() const { return *arch_; }
  static constexpr size_t kDefaultWorkspaceRetain = size_t(1) << 30;

  // Runs the forward on valid inputs (lib/model.ts validates them; here they are invariants); returns a host tensor.
  Tensor forward(const ForwardInputs& in, const ForwardOptions& options = {}, ForwardReport* report = nullptr);
  // Official forward_with_cfg: runs cat([x[:B/2], x[:B/2]]) and guides the first guided_channels
  // channels of the output (DiT: 3, Latte: 4 by default, chosen by the caller). One cache call.
  Tensor forward_with_cfg(const ForwardInputs& in, float scale, int64_t guided_channels,
                          const ForwardOptions& options = {}, ForwardReport* report = nullptr);
  // One sampling step on latents x resident in the backend's memory (official layout, float32), updated in place:
  // the forward (forward_with_cfg when guidance.channels > 0), then Backend::sampler_update with `update` and the
  // host noise (read when update.needs_noise()). Nothing is downloaded: on CUDA the latents stay on the device.
  // `conditions` holds t, y and the text states of the call (its x is ignored: the latents are x).
  void sample_step(Tensor& x, const ForwardInputs& conditions, const Guidance& guidance, const SamplerUpdate& update,
                   const Tensor& noise, const ForwardOptions& options = {}, ForwardReport* report = nullptr);
  // A float32 tensor of `shape` in the backend's memory holding `host` (latents for sample_step).
  Tensor make_resident(const Tensor& host);
  // t (any dtype) as float32 into host memory (counted as a "download" by the profiler).
  void download_into(const Tensor& t, float* host);

 private:
  // One recorded forward (graph/graph.h) and what it does.
  struct RecordedForward {
    Graph graph{nullptr};
    ValueId out = kNoValue;        // the output, float32 in the official layout (CFG applied when guided)
    int64_t blocks_executed = 0;
    // HunyuanDiT: the RoPE tables of this input size, in the backend's memory: computed and uploaded once per
    // recorded graph, bound on every call (not rebuilt per step)
    Tensor rope_cos, rope_sin;
  };
  // External slots of a forward graph.
  enum Slot { kX = 0, kT, kY, kFeature, kText, kTextBias, kTextT5, kTextKeep, kRopeCos, kRopeSin, kImageMeta, kProbe, kSlots };

  void check_inputs(const ForwardInputs& in) const;
  // The forward graph for this input shape, guidance and Skip-Cache variant, recorded on first use.
  RecordedForward& forward_graph(const ForwardInputs& in, const Guidance& guidance, const SkipCache* cache, SkipCache::Call call);
  // Runs the forward (with CFG when guidance.channels > 0); its output stays in the arena until the next call.
  Tensor forward_resident(const ForwardInputs& in, const Guidance& guidance, const ForwardOptions& options,
                          ForwardReport& report);
  Tensor download(const Tensor& t);

  ModelConfig config_;
  std::shared_ptr<Backend> backend_;
  std::unique_ptr<Architecture> arch_;
  size_t weight_bytes_ = 0;
  std::map<std::string, std::unique_ptr<RecordedForward>> graphs_;
  GraphArena arena_;  // after backend_: built from it
  std::shared_ptr<OpProfiler> profiler_;
  std::mutex mutex_;
};

}  // namespace skipdit
