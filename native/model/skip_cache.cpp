#include "model/skip_cache.h"

#include <cmath>

namespace skipdit {

SkipCache::SkipCache(const ModelConfig& config, int64_t unit_blocks, CachePolicy policy, const void* owner)
    : config_(config), unit_blocks_(unit_blocks), policy_(policy), owner_(owner) {
  validate(policy_);
  configure();
}

// Policies are validated in lib (resolveCachePolicy, Model.createCache) with typed errors; here they are invariants.
void SkipCache::validate(const CachePolicy& p) const {
  // A plain DiT caches as a baseline for the skip-branch ablation (lib allows only that plain family).
  SKIPDIT_CHECK(config_.skip || config_.family == Family::DiT, "Skip-Cache on a model without skip branches");
  // k units kept at each end must leave the resume point in the decoder half (where the skips are popped).
  const int64_t max_branch = config_.depth / unit_blocks_ / 2;
  SKIPDIT_CHECK(!p.adaptive || (p.measure && p.max_skip >= 1 && p.threshold >= 0), "adaptive cache policy without measure, or max_skip < 1");
  SKIPDIT_CHECK(p.interval >= 1 && p.branch >= 1 && p.branch <= max_branch && std::isfinite(p.start) && std::isfinite(p.stop),
                "cache policy interval " + std::to_string(p.interval) + ", branch " + std::to_string(p.branch) + " (at most " +
                    std::to_string(max_branch) + ")");
}

void SkipCache::configure() {
  // Without skip branches nothing of the shallow units reaches the kept deep units: a cached call skips them too.
  skip_from_ = skip_from_for(config_, unit_blocks_, policy_.branch);
  resume_block_ = config_.depth - policy_.branch * unit_blocks_;
}

CachePolicy SkipCache::policy() const { return policy_; }

void SkipCache::set_policy(const CachePolicy& policy) {
  validate(policy);
  std::lock_guard<std::mutex> lock(mutex_);
  policy_ = policy;
  configure();
  count_ = 0;
  has_feature_ = false;
  previous_probe_.clear();
  drift_ = std::nan("");
  accumulated_ = 0;
  skipped_ = 0;
}

void SkipCache::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  count_ = 0;
  has_feature_ = false;
  previous_probe_.clear();
  drift_ = std::nan("");
  accumulated_ = 0;
  skipped_ = 0;
}

Tensor SkipCache::probe_to_fill(Backend& backend, const Shape& shape, DType dtype) {
  if (!probe_.defined() || probe_.shape() != shape || probe_.dtype() != dtype) probe_ = backend.empty(dtype, shape);
  return probe_;
}

void SkipCache::measure(Backend& backend) {
  probe_host_.resize(probe_.numel());
  backend.download(probe_, probe_host_.data());
  drift_ = std::nan("");
  if (previous_probe_.size() == probe_host_.size()) {  // another shape: a new run, no reference
    double diff = 0, norm = 0;
    for (size_t i = 0; i < probe_host_.size(); ++i) {
      diff += std::fabs(double(probe_host_[i]) - double(previous_probe_[i]));
      norm += std::fabs(double(previous_probe_[i]));
    }
    drift_ = norm > 0 ? diff / norm : std::nan("");
  }
  previous_probe_.swap(probe_host_);
}

CacheStats SkipCache::stats() const {
  return {calls_.load(), full_steps_.load(), cached_steps_.load(), blocks_executed_.load(), blocks_total_.load()};
}

SkipCache::Call SkipCache::begin_call(double t, const Shape& input_shape, bool force_full) {
  before_call_.count = count_;
  before_call_.has_feature = has_feature_;
  before_call_.accumulated = accumulated_;
  before_call_.skipped = skipped_;
  before_call_.reshaped = input_shape != input_shape_;
  before_call_.feature = feature_;
  if (before_call_.reshaped) {  // a new batch or resolution: a new run
    before_call_.input_shape = std::move(input_shape_);
    input_shape_ = input_shape;
    count_ = 0;
    has_feature_ = false;
  }
  const bool forced = force_full || (policy_.full_when_empty && !has_feature_) || t >= policy_.start;
  if (policy_.adaptive) {
    full_ = forced || count_ == 0 || !has_feature_;
    if (full_) {
      accumulated_ = 0;
      skipped_ = 0;
    }
    return full_ ? Call::Full : Call::Decide;
  }
  full_ = forced || count_ % policy_.interval == 0;
  return full_ ? Call::Full : Call::Cached;
}

bool SkipCache::decide_now(Backend& backend) {
  measure(backend);
  const double d = std::isnan(drift_) ? 0 : drift_;
  full_ = skipped_ >= policy_.max_skip || accumulated_ + d >= policy_.threshold;
  if (full_) {
    accumulated_ = 0;
    skipped_ = 0;
  } else {
    accumulated_ += d;
    skipped_++;
  }
  return full_;
}

Tensor SkipCache::feature_to_save(Backend& backend, const Shape& shape, DType dtype) {
  if (!feature_.defined() || feature_.shape() != shape || feature_.dtype() != dtype) feature_ = backend.empty(dtype, shape);
  has_feature_ = true;  // abort_call() takes it back if the call fails
  return feature_;
}

const Tensor& SkipCache::feature_to_restore() const {
  // The feature is empty only when count == 0 (fresh, reset, stopped or reshaped), and such a call is full,
  // so a cached call always has one, whatever full_when_empty says.
  SKIPDIT_CHECK(has_feature_ && feature_.defined(), "cached step without a saved feature");
  return feature_;
}

void SkipCache::abort_call() {
  count_ = before_call_.count;
  has_feature_ = before_call_.has_feature;
  accumulated_ = before_call_.accumulated;
  skipped_ = before_call_.skipped;
  if (before_call_.reshaped) input_shape_ = std::move(before_call_.input_shape);
  feature_ = before_call_.feature;
  before_call_.feature = Tensor();
}

void SkipCache::end_call(double t, int64_t blocks_executed) {
  before_call_.feature = Tensor();  // do not keep a replaced feature alive
  calls_++;
  (full_ ? full_steps_ : cached_steps_)++;
  blocks_executed_ += blocks_executed;
  blocks_total_ += config_.depth;
  count_ += 1;
  if (policy_.stop_inclusive ? t <= policy_.stop : t < policy_.stop) {
    count_ = 0;
    has_feature_ = false;
  }
}

}  // namespace skipdit
