// Text encoders on the op-graph engine: T5 v1.1 / mT5 (T5EncoderModel) and BERT (BertModel without pooler), as
// transformers v4.39 computes them. A family file (t5.cpp, bert.cpp) composes blocks (text_blocks.h) into a
// TextEncoderFamily: its parameters under their state_dict names, its forward recorded into a graph, and how its
// checkpoints name tensors (aliases, ignored parts). TextEncoder binds the weights of any WeightSource and runs
// one recorded graph per (batch, length, mask given), like Model: one arena, abort between nodes, taps, profiler.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/progress.h"
#include "graph/arena.h"
#include "graph/profiler.h"
#include "model/blocks.h"
#include "model/model.h"
#include "model/weights.h"

namespace skipdit {

enum class TextFamily { T5, Bert };
const char* text_family_name(TextFamily family);

// The architecture of a text encoder, from the fields of its config.json (lib/text-encoder.ts reads and checks
// them; validate() checks them again as the C++ API's own invariants).
struct TextEncoderConfig {
  TextFamily family = TextFamily::T5;
  int64_t vocab_size = 0;   // rows of the token embedding
  int64_t hidden_size = 0;  // T5 d_model, BERT hidden_size
  int64_t num_layers = 0;   // T5 num_layers, BERT num_hidden_layers
  int64_t num_heads = 0;    // T5 num_heads, BERT num_attention_heads
  int64_t head_dim = 0;     // T5 d_kv (heads * d_kv may differ from d_model), BERT hidden_size / heads
  int64_t ff_size = 0;      // T5 d_ff, BERT intermediate_size
  double eps = 1e-6;        // T5 layer_norm_epsilon, BERT layer_norm_eps
  // T5: relative_attention_num_buckets, relative_attention_max_distance
  int64_t relative_buckets = 32, relative_max_distance = 128;
  // BERT: max_position_embeddings (the longest input), type_vocab_size
  int64_t max_positions = 512, type_vocab_size = 2;

  int64_t inner_dim() const { return num_heads * head_dim; }
  // The longest input the model takes (BERT: its position table; T5: no limit, 0).
  int64_t max_length() const { return family == TextFamily::Bert ? max_positions : 0; }
  void validate() const;  // InvalidArgument naming the field
  std::string summary() const;
};

// How a family's checkpoints name its tensors, for EncoderWeights.
struct WeightNaming {
  // {the parameter's name, other names of the same tensor}: the first one the file has is used, the others are
  // taken with it (a torch state dict of T5 holds both shared.weight and encoder.embed_tokens.weight).
  std::vector<std::vector<std::string>> aliases;
  // Tensors of the file the encoder does not use: names starting with one of these (a T5 decoder, a BERT pooler or
  // pretraining heads) or equal to one of ignored_names (buffers).
  std::vector<std::string> ignored_prefixes;
  std::vector<std::string> ignored_names;
  // A prefix every name of the file may carry (BERT heads save the encoder under "bert."): stripped when the file
  // has no name of the encoder without it; names without it are then ignored.
  std::string optional_prefix;
};

// A checkpoint presented under the encoder's parameter names: aliases resolved, the optional prefix stripped,
// ignored tensors hidden (never loaded). Everything else of the file is listed, so the binder reports it as
// unexpected. Works over any WeightSource (a safetensors file, a Hugging Face folder).
class EncoderWeights final : public WeightSource {
 public:
  EncoderWeights(const WeightSource& inner, WeightNaming naming);
  std::string describe() const override { return inner_.describe(); }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override;
  Shape shape(const std::string& name) const override;
  Tensor get(const std::string& name) const override;
  void release(const std::string& name) const override;
  // The file's name behind `name` ("" when there is none).
  std::string source_name(const std::string& name) const;

 private:
  bool ignored(const std::string& file_name) const;
  const WeightSource& inner_;
  WeightNaming naming_;
  std::string prefix_;                               // the optional prefix, when the file uses it
  std::map<std::string, std::string> alias_of_;      // a file name (without prefix) -> its parameter name
};

// A family: parameters (ParamSet, state_dict names) and the forward as graph nodes.
class TextEncoderFamily {
 public:
  virtual ~TextEncoderFamily() = default;
  const ParamSet& params() const { return params_; }
  // ids (B, L) int64 in [0, vocab), mask (B, L) float32 1 keep / 0 padding, or kNoValue (all ones) ->
  // last_hidden_state (B, L, hidden) float32. Taps: "embedding" (the embedding output, hidden_states[0]),
  // "layer_out" (each layer's output, stacked), and per family ("attn_residual", "position_bias").
  virtual ValueId forward(GraphBuilder& b, ValueId ids, ValueId mask) const = 0;
  virtual WeightNaming naming() const = 0;

 protected:
  ParamSet params_;
};

// The family of `config`; `precision` is the backend's (T5 keeps `wo` float32 under float16, as transformers).
std::unique_ptr<TextEncoderFamily> make_text_encoder_family(const TextEncoderConfig& config, Precision precision);
std::unique_ptr<TextEncoderFamily> make_t5_encoder(const TextEncoderConfig& config, Precision precision);    // t5.cpp
std::unique_ptr<TextEncoderFamily> make_bert_encoder(const TextEncoderConfig& config, Precision precision);  // bert.cpp

class TextEncoder {
 public:
  // Binds the family's parameters from `weights` (through EncoderWeights: aliases, ignored tensors); every missing,
  // misshaped and unexpected tensor in one Checkpoint error. hooks: abort between tensors, progress per tensor.
  TextEncoder(const TextEncoderConfig& config, std::shared_ptr<Backend> backend, Precision precision,
              const WeightSource& weights, const LoadHooks& hooks = {});
  ~TextEncoder();

  const TextEncoderConfig& config() const { return config_; }
  Backend& backend() { return *backend_; }
  Precision precision() const { return precision_; }
  std::mutex& mutex() { return mutex_; }
  size_t weight_bytes() const { return weight_bytes_; }
  size_t workspace_bytes() const { return arena_.bytes(); }
  // The arena is kept after a call while it is at most `retain` bytes (a failed call always releases it).
  void set_workspace_retain(size_t retain) { arena_.set_limits(retain, 0); }
  void set_profiler(std::shared_ptr<OpProfiler> profiler) { profiler_ = std::move(profiler); }
  const std::shared_ptr<OpProfiler>& profiler() const { return profiler_; }

  // last_hidden_state (B, L, hidden) float32 on the host, of ids (B, L) int64 in [0, vocab) and mask (B, L)
  // float32 of 0 / 1 (undefined: all ones), B, L >= 1 (BERT: L <= max_position_embeddings). The inputs are
  // validated in lib/text-encoder.ts; here they are invariants (Internal). Not reentrant: hold mutex().
  // `abort` is checked before every node (core/abort.h).
  Tensor forward(const Tensor& ids, const Tensor& mask, Taps* taps = nullptr, const std::atomic<bool>* abort = nullptr);

 private:
  struct Recorded {
    Graph graph{nullptr};
    ValueId out = kNoValue;
  };
  enum Slot { kIds = 0, kMask, kSlots };
  Recorded& graph_for(int64_t batch, int64_t length, bool masked);

  TextEncoderConfig config_;
  std::shared_ptr<Backend> backend_;
  Precision precision_;
  std::unique_ptr<TextEncoderFamily> family_;
  size_t weight_bytes_ = 0;
  std::map<std::string, std::unique_ptr<Recorded>> graphs_;
  GraphArena arena_{*backend_, size_t(256) << 20};  // after backend_
  std::shared_ptr<OpProfiler> profiler_;
  std::mutex mutex_;
};

}  // namespace skipdit
