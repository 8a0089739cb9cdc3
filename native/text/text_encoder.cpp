#include "text/text_encoder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace skipdit {

const char* text_family_name(TextFamily family) { return family == TextFamily::T5 ? "t5" : "bert"; }

// ------------------------------------------------------------------------------------------------ config
void TextEncoderConfig::validate() const {
  auto bad = [](const char* field, const std::string& expected, const std::string& got) {
    fail(ErrorKind::InvalidArgument, std::string("Expected ") + expected + " for text encoder config." + field +
                                         " but received " + got);
  };
  // Sizes up to 2^24 (hidden, heads, ff) and 2^31 (vocabulary): beyond any real model, and far from int64 overflow
  // in the products the graph forms.
  auto positive = [&](const char* field, int64_t v, int64_t max) {
    if (v < 1 || v > max) bad(field, "an integer in [1, " + std::to_string(max) + "]", std::to_string(v));
  };
  positive("vocab_size", vocab_size, int64_t(1) << 31);
  positive("hidden_size", hidden_size, int64_t(1) << 24);
  positive("num_layers", num_layers, 4096);
  positive("num_heads", num_heads, 4096);
  positive("head_dim", head_dim, int64_t(1) << 16);
  positive("ff_size", ff_size, int64_t(1) << 24);
  if (!(eps > 0 && eps < 1)) bad("eps", "a number in (0, 1)", std::to_string(eps));
  if (family == TextFamily::T5) {
    positive("relative_buckets", relative_buckets, 1 << 16);
    if (relative_buckets / 4 < 1) bad("relative_buckets", "at least 4 buckets", std::to_string(relative_buckets));
    if (relative_max_distance <= relative_buckets / 4 || relative_max_distance > (int64_t(1) << 30))
      bad("relative_max_distance", "an integer above relative_buckets / 4", std::to_string(relative_max_distance));
  } else {
    if (inner_dim() != hidden_size)
      bad("head_dim", "hidden_size / num_heads (" + std::to_string(hidden_size) + " / " + std::to_string(num_heads) + ")",
          std::to_string(head_dim));
    positive("max_positions", max_positions, int64_t(1) << 20);
    positive("type_vocab_size", type_vocab_size, int64_t(1) << 20);
  }
}

std::string TextEncoderConfig::summary() const {
  return std::string(text_family_name(family)) + " encoder (" + std::to_string(num_layers) + " layers, width " +
         std::to_string(hidden_size) + ", " + std::to_string(num_heads) + " heads)";
}

// ------------------------------------------------------------------------------------------------ weights
EncoderWeights::EncoderWeights(const WeightSource& inner, WeightNaming naming)
    : inner_(inner), naming_(std::move(naming)) {
  const std::vector<std::string> names = inner_.names();
  if (!naming_.optional_prefix.empty()) {
    const std::string& p = naming_.optional_prefix;
    bool with = false, without = false;
    for (const std::string& n : names) {
      if (n.compare(0, p.size(), p) == 0) with = true;
      else if (!ignored(n)) without = true;
    }
    // Only a file whose encoder tensors all carry the prefix uses it (from_pretrained's base_model_prefix rule).
    if (with && !without) prefix_ = p;
  }
  for (const auto& group : naming_.aliases)
    for (const std::string& n : group) alias_of_[n] = group.front();
}

bool EncoderWeights::ignored(const std::string& n) const {
  for (const std::string& p : naming_.ignored_prefixes)
    if (n.compare(0, p.size(), p) == 0) return true;
  return std::find(naming_.ignored_names.begin(), naming_.ignored_names.end(), n) != naming_.ignored_names.end();
}

std::string EncoderWeights::source_name(const std::string& name) const {
  for (const auto& group : naming_.aliases) {
    if (group.front() != name) continue;
    for (const std::string& alt : group)
      if (inner_.has(prefix_ + alt)) return prefix_ + alt;
    return "";
  }
  return inner_.has(prefix_ + name) ? prefix_ + name : "";
}

std::vector<std::string> EncoderWeights::names() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& file_name : inner_.names()) {
    std::string n = file_name;
    if (!prefix_.empty()) {
      if (n.compare(0, prefix_.size(), prefix_) != 0) continue;  // outside the encoder (cls.* heads): ignored
      n = n.substr(prefix_.size());
    }
    if (ignored(n)) continue;
    auto alias = alias_of_.find(n);
    if (alias != alias_of_.end()) n = alias->second;  // the parameter's name, once for all its aliases
    if (seen.insert(n).second) out.push_back(n);
  }
  return out;
}

bool EncoderWeights::has(const std::string& name) const { return !source_name(name).empty(); }

Shape EncoderWeights::shape(const std::string& name) const {
  const std::string s = source_name(name);
  SKIPDIT_CHECK(!s.empty(), "no tensor " + name);
  return inner_.shape(s);
}

Tensor EncoderWeights::get(const std::string& name) const {
  const std::string s = source_name(name);
  SKIPDIT_CHECK(!s.empty(), "no tensor " + name);
  return inner_.get(s);
}

void EncoderWeights::release(const std::string& name) const {
  const std::string s = source_name(name);
  if (!s.empty()) inner_.release(s);
}

// ------------------------------------------------------------------------------------------------ families
std::unique_ptr<TextEncoderFamily> make_text_encoder_family(const TextEncoderConfig& config, Precision precision) {
  config.validate();
  switch (config.family) {
    case TextFamily::T5: return make_t5_encoder(config, precision);
    case TextFamily::Bert: return make_bert_encoder(config, precision);
  }
  fail(ErrorKind::Internal, "unknown text encoder family");
}

// ------------------------------------------------------------------------------------------------ encoder
TextEncoder::TextEncoder(const TextEncoderConfig& config, std::shared_ptr<Backend> backend, Precision precision,
                         const WeightSource& weights, const LoadHooks& hooks)
    : config_(config), backend_(std::move(backend)), precision_(precision),
      family_(make_text_encoder_family(config, precision)) {
  EncoderWeights named(weights, family_->naming());
  WeightBinder bind(named, *backend_, hooks);
  for (const auto& p : family_->params().all()) {
    p->bind(bind.take(p->name, p->shape), *backend_);
    weight_bytes_ += p->tensor.defined() ? p->tensor.nbytes() : 0;
  }
  bind.finish();
}

TextEncoder::~TextEncoder() = default;

TextEncoder::Recorded& TextEncoder::graph_for(int64_t batch, int64_t length, bool masked) {
  const std::string key = std::to_string(batch) + "x" + std::to_string(length) + (masked ? " mask" : "");
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return *it->second;
  if (graphs_.size() >= 16) graphs_.clear();  // many prompt shapes: forget the old graphs
  auto rec = std::make_unique<Recorded>();
  rec->graph = Graph(backend_.get());
  Graph& g = rec->graph;
  GraphBuilder b(g);
  const ValueId ids = g.external(kIds, {batch, length}, DType::I64);
  const ValueId mask = masked ? g.external(kMask, {batch, length}, DType::F32) : kNoValue;
  rec->out = family_->forward(b, ids, mask);
  g.output(rec->out);
  g.finalize();
  return *(graphs_[key] = std::move(rec));
}


Tensor TextEncoder::forward(const Tensor& ids, const Tensor& mask, Taps* taps, const std::atomic<bool>* abort) {
  GraphArena::CallScope scope(arena_);
  const TextEncoderConfig& c = config_;
  SKIPDIT_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.ndim() == 2 && ids.dim(0) >= 1 && ids.dim(1) >= 1 &&
                    ids.device() == Device::CPU,
                "ids " + (ids.defined() ? ids.describe() : std::string("none")) + " for the " + c.summary());
  const int64_t B = ids.dim(0), L = ids.dim(1);
  SKIPDIT_CHECK(c.max_length() == 0 || L <= c.max_length(),
                "length " + std::to_string(L) + " above the position table (" + std::to_string(c.max_length()) + ")");
  // The ids index the embedding table (the CUDA kernel trusts them): checked here as well as in TypeScript.
  const int64_t* id = ids.i64();
  for (int64_t i = 0; i < ids.numel(); ++i)
    SKIPDIT_CHECK(id[i] >= 0 && id[i] < c.vocab_size,
                  "token id " + std::to_string(id[i]) + " outside [0, " + std::to_string(c.vocab_size) + ")");
  if (mask.defined()) {
    SKIPDIT_CHECK(mask.dtype() == DType::F32 && mask.shape() == ids.shape() && mask.device() == Device::CPU,
                  "mask " + mask.describe() + " for ids " + ids.describe());
    const float* m = mask.f32();
    for (int64_t i = 0; i < mask.numel(); ++i) SKIPDIT_CHECK(m[i] == 0.0f || m[i] == 1.0f, "mask values 0 or 1");
  }
  Recorded& rec = graph_for(B, L, mask.defined());
  GraphBindings bind;
  bind.arena = arena_.reserve(rec.graph.arena_bytes());
  bind.externals.resize(kSlots);
  bind.externals[kIds] = ids;
  bind.externals[kMask] = mask;
  ComputeHooks hooks;
  hooks.abort = abort;
  hooks.replayable = true;
  hooks.observer = profiler_.get();
  if (taps) hooks.tap = [&](const std::string& name, const Tensor& t) { taps->record(*backend_, name, t); };
  backend_->compute(rec.graph, bind, hooks);
  const Tensor out = rec.graph.tensor(rec.out, bind);
  Tensor host = Tensor::host(DType::F32, out.shape());
  const auto t0 = std::chrono::steady_clock::now();
  backend_->download(out, host.f32());
  if (profiler_) profiler_->record("download", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return host;
}

}  // namespace skipdit
