// Skip-Cache state machine (the official DiT_cache / Latte_skip_cache rule, parameterised).
//
// Per model call with t = t[0] (the original timestep):
//   full step  iff  count % interval == 0  ||  (full_when_empty && no feature)  ||  t >= start
//   after the call: count += 1; then if t <= stop (t < stop when !stop_inclusive): count = 0, feature = none.
// On a full step every block runs and the hidden state entering the first kept deep unit (block depth-k for
// DiT, pair depth-2k for Latte), before its skip fusion, is saved as the feature. On a cached step the middle
// units are skipped entirely and that input is replaced by the saved feature; the early units still run and
// their skip outputs feed the late units exactly as in a full step. full_when_empty mirrors the official
// `feature is None` test (absent in Hunyuan's rule); the feature is only ever empty when count == 0, so such a
// call is full either way and both rules give the same schedule.
//
// A plain DiT (no skip branches) may cache too, as the ablation's baseline: its cached call runs only the last k blocks
// on the saved feature (nothing else reaches them).
//
// The state belongs to one sampling run (a pipeline), never to the model; it resets itself when the input
// shape changes. The feature buffer is allocated once and reused.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"

namespace skipdit {

struct CachePolicy {
  int64_t interval = 2;        // N: a full step every N calls
  int64_t branch = 1;          // k: blocks (DiT) or spatial+temporal pairs (Latte) kept at each end
  double start = 1000;         // t >= start: always full
  double stop = 20;            // t <= stop (or < stop): reset after the call
  bool stop_inclusive = true;
  bool full_when_empty = true; // a missing feature forces a full step
  // Copy the shallow output (the hidden state entering the first skipped unit, computed by full and cached calls
  // alike) into a probe on every call, and report its relative L1 change from the previous call (drift()).
  // Off: the graphs are those of the fixed rule.
  bool measure = false;
  // Adaptive (needs measure; interval is then unused): a call that the rule above does not make full runs the
  // shallow units, measures the drift, and then runs the deep units only if the drift accumulated over the cached
  // calls since the last full one, plus this call's, reaches `threshold`, or `max_skip` cached calls ran in a row.
  bool adaptive = false;
  double threshold = 0;
  int64_t max_skip = 1;
};

struct CacheStats {
  int64_t calls = 0, full_steps = 0, cached_steps = 0;
  int64_t blocks_executed = 0, blocks_total = 0;  // transformer blocks (a Latte pair counts as 2)
};

class SkipCache {
 public:
  // The policy must fit the model (lib validates it; here an invariant). unit_blocks: transformer blocks per
  // cached unit (Architecture::unit_blocks: DiT 1, Latte 2).
  SkipCache(const ModelConfig& config, int64_t unit_blocks, CachePolicy policy, const void* owner);

  const void* owner() const { return owner_; }
  CachePolicy policy() const;
  void set_policy(const CachePolicy& policy);  // also resets the state
  void reset();                                // count = 0, feature = none, stats kept
  CacheStats stats() const;
  int64_t count() const { return count_; }
  bool has_feature() const { return has_feature_; }

  // Serialises whole calls: held by the forward for its duration, and by set_policy/reset.
  std::mutex& mutex() { return mutex_; }

  // ---- used by the model graph, in this order, once per call
  // Decides full vs cached for this call (force_full: a full step whatever the rule says); Decide: an adaptive
  // policy decides inside the call (decide_now(), after the shallow units ran).
  enum class Call { Full, Cached, Decide };
  Call begin_call(double t, const Shape& input_shape, bool force_full = false);
  // Decide calls: measures the probe and applies the adaptive rule; true: the deep units run (a full call).
  bool decide_now(Backend& backend);
  // Whether this call ended up full (begin_call's decision, or decide_now's).
  bool full() const { return full_; }
  // The adaptive rule's drift accumulated over the cached calls since the last full one (after this call).
  double accumulated() const { return accumulated_; }
  // First deep unit index where the feature is taken (DiT: depth-k; Latte: depth-2k, a block index).
  int64_t resume_block() const { return resume_block_; }
  // First block a cached call skips: k units in (with skip branches), 0 for a plain DiT (its early blocks feed nothing
  // that a cached call keeps).
  int64_t skip_from() const { return skip_from_; }
  // The same for a config and branch k, without a cache (describe() costs the cached steps with it).
  static int64_t skip_from_for(const ModelConfig& config, int64_t unit_blocks, int64_t branch) {
    return config.skip ? branch * unit_blocks : 0;
  }
  // Whether block (DiT) / pair start (Latte) index i is skipped on this call.
  bool skips(int64_t i) const { return !full_ && i >= skip_from_ && i < resume_block_; }
  // A full call: the buffer its graph copies the feature into (allocated when the shape or dtype changes).
  Tensor feature_to_save(Backend& backend, const Shape& shape, DType dtype);
  // A cached call: the feature its graph resumes from.
  const Tensor& feature_to_restore() const;
  // policy.measure: the buffer the graph copies the shallow output into (the feature's shape and dtype).
  Tensor probe_to_fill(Backend& backend, const Shape& shape, DType dtype);
  // After a measured call: sum |p - p_prev| / sum |p_prev| of this call's probe and the previous call's (NaN for
  // the first call of a run); the probe is kept on the host as the next call's reference.
  void measure(Backend& backend);
  double drift() const { return drift_; }
  void end_call(double t, int64_t blocks_executed);
  // The call failed: back to the state before begin_call (a retry makes the same decision; a huge batch that
  // ran out of memory does not reset the run of the shape it interrupted).
  void abort_call();

 private:
  void validate(const CachePolicy& policy) const;
  void configure();

  ModelConfig config_;
  int64_t unit_blocks_;
  CachePolicy policy_;
  const void* owner_;
  int64_t skip_from_ = 0, resume_block_ = 0;

  std::mutex mutex_;
  int64_t count_ = 0;
  bool has_feature_ = false;
  bool full_ = true;
  Shape input_shape_;
  Tensor feature_;
  Tensor probe_;
  std::vector<float> probe_host_, previous_probe_;
  double drift_ = std::nan("");
  double accumulated_ = 0;
  int64_t skipped_ = 0;  // cached calls in a row
  struct Saved {
    int64_t count;
    bool has_feature;
    double accumulated;
    int64_t skipped;
    bool reshaped;      // the call changed input_shape_: input_shape holds the previous one
    Shape input_shape;  // moved, not copied: no allocation on the per-step path
    Tensor feature;     // holds the old buffer if save_feature reallocates for another shape
  } before_call_{};

  std::atomic<int64_t> calls_{0}, full_steps_{0}, cached_steps_{0}, blocks_executed_{0}, blocks_total_{0};
};

}  // namespace skipdit
