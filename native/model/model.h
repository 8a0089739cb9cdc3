// A DiT / Latte model (with or without Skip-DiT long skip branches) bound to a backend.
//
// Inputs are host tensors in the official layouts: x (B, C, H, W) for DiT, (B, F, C, H, W) for Latte;
// t (B) float32 original timesteps; y (B) int64 labels (undefined for unconditional Latte). The output
// has the layout of x with out_channels channels. forward() is not reentrant: callers serialise it
// (the bindings hold the model's mutex).
#pragma once
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
#include "model/workspace.h"

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
};

struct LinearWeights {
  Tensor weight;  // (out, in), in the backend's layout (Backend::prepare_linear)
  Tensor bias;    // (out)
};

struct BlockWeights {
  LinearWeights qkv;     // (3D, D)
  LinearWeights proj;    // (D, D)
  LinearWeights fc1;     // (Hm, D)
  LinearWeights fc2;     // (D, Hm)
  LinearWeights adaLN;   // (6D, D)
};

struct SkipWeights {
  Tensor norm_weight, norm_bias;  // (2D)
  LinearWeights linear;           // (D, 2D)
};

struct ModelWeights {
  Tensor pos_embed;      // (1, T, D)
  Tensor temp_embed;     // (1, F, D)  Latte only
  Tensor patch_weight;   // (D, C, p, p)
  Tensor patch_bias;     // (D)
  LinearWeights t_mlp0;  // (D, 256)
  LinearWeights t_mlp2;  // (D, D)
  Tensor label_table;    // (num_classes [+1], D), undefined when unconditional
  std::vector<BlockWeights> blocks;
  std::vector<SkipWeights> skips;
  LinearWeights final_adaLN;   // (2D, D)
  LinearWeights final_linear;  // (p*p*Cout, D)
};

class Model {
 public:
  static constexpr int64_t kFrequencyDim = 256;  // TimestepEmbedder frequency_embedding_size

  // hooks.abort stops the load between tensors (core/abort.h); hooks.progress reports each one (core/progress.h).
  Model(const ModelConfig& config, std::shared_ptr<Backend> backend, const WeightSource& weights,
        const LoadHooks& hooks = {});

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return *backend_; }
  std::mutex& mutex() { return mutex_; }
  size_t weight_bytes() const { return weight_bytes_; }
  // Activation memory held now: updated at the end of every call (safe to read while another call runs).
  size_t workspace_bytes() const { return workspace_bytes_.load(); }
  // After a call the workspace is kept for the next one while it is at most `retain` bytes, else released; a
  // failed call always releases it. A call needing more than `max` bytes (0: no cap) fails before allocating.
  // Set before the first call (the binding does at load).
  void set_workspace_limits(size_t retain, size_t max) {
    workspace_retain_ = retain;
    workspace_.set_max_bytes(max);
  }
  static constexpr size_t kDefaultWorkspaceRetain = size_t(1) << 30;

  // Checks the inputs (InvalidArgument naming the field) and runs the graph; returns a host tensor.
  Tensor forward(const ForwardInputs& in, const ForwardOptions& options = {}, ForwardReport* report = nullptr);
  // Official forward_with_cfg: runs cat([x[:B/2], x[:B/2]]) and guides the first guided_channels
  // channels of the output (DiT: 3, Latte: 4 by default, chosen by the caller). One cache call.
  Tensor forward_with_cfg(const ForwardInputs& in, float scale, int64_t guided_channels,
                          const ForwardOptions& options = {}, ForwardReport* report = nullptr);
  // One sampling step on latents x resident in the backend's memory (official layout, float32), updated in place:
  // the forward (forward_with_cfg when guidance.channels > 0), then Backend::sampler_update with `update` and the
  // host noise (read when update.needs_noise()). Nothing is downloaded: on CUDA the latents stay on the device.
  void sample_step(Tensor& x, const Tensor& t, const Tensor& y, const Guidance& guidance, const SamplerUpdate& update,
                   const Tensor& noise, const ForwardOptions& options = {}, ForwardReport* report = nullptr);
  // A float32 tensor of `shape` in the backend's memory holding `host` (latents for sample_step).
  Tensor make_resident(const Tensor& host);

 private:
  void validate_inputs(const ForwardInputs& in) const;
  // x as the graph reads it: a resident tensor itself, a host one uploaded.
  Tensor backend_input(const Tensor& x);
  // The forwards without the download: the output stays in the backend's memory (a workspace buffer, valid
  // until the next call).
  Tensor forward_resident(const ForwardInputs& in, const ForwardOptions& options, ForwardReport& report);
  Tensor forward_with_cfg_resident(const ForwardInputs& in, const Guidance& guidance, const ForwardOptions& options,
                                   ForwardReport& report);
  Tensor download(const Tensor& t);
  // Applies the retain rule at the end of a public call (RAII: also when it throws).
  class CallScope;
  // The backend region key of a forward (Backend::begin_region): empty with taps (they download mid-way).
  std::string region_key(const ForwardInputs& in, Taps* taps, SkipCache* cache, const ForwardReport& report) const;
  // Returns silu(c) (B, D) where c = t_emb [+ y_emb].
  Tensor conditioning(const ForwardInputs& in, Taps* taps);
  // Runs block i on h (G, N, D); conditioning rows are shared by group_repeat consecutive groups.
  void run_block(int64_t i, Tensor& h, const Tensor& silu_c, int64_t group_repeat);
  // h = skip_linears[j](skip_norms[j](cat([h, skip])))
  void fuse_skip(int64_t j, Tensor& h, const Tensor& skip);
  // tokens (G, T, D) -> image (G, Cout, H, W); conditioning repeated group_repeat times.
  Tensor final_layer(const Tensor& h, const Tensor& silu_c, int64_t group_repeat, Taps* taps);
  Tensor forward_dit(const ForwardInputs& in, Taps* taps, SkipCache* cache, ForwardReport& report);
  Tensor forward_latte(const ForwardInputs& in, Taps* taps, SkipCache* cache, ForwardReport& report);

  ModelConfig config_;
  std::shared_ptr<Backend> backend_;
  ModelWeights w_;
  size_t weight_bytes_ = 0;
  Workspace workspace_;
  const std::atomic<bool>* abort_ = nullptr;  // the running call's ForwardOptions::abort
  size_t workspace_retain_ = kDefaultWorkspaceRetain;
  std::atomic<size_t> workspace_bytes_{0};
  std::mutex mutex_;
};

}  // namespace skipdit
