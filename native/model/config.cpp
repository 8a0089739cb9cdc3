#include "model/config.h"

#include "core/error.h"

namespace skipdit {

namespace {
// Configs are validated in lib/config.ts (normalizeConfig), with typed errors; here the same facts are invariants.
void require(bool ok, const std::string& field, const std::string& expected, int64_t got) {
  SKIPDIT_CHECK(ok, "config." + field + ": expected " + expected + ", got " + std::to_string(got));
}
}  // namespace

void ModelConfig::validate() const {
  require(input_size > 0, "input_size", "a positive integer", input_size);
  require(patch_size > 0, "patch_size", "a positive integer", patch_size);
  require(input_size % patch_size == 0, "input_size", "a multiple of patch_size " + std::to_string(patch_size),
          input_size);
  require(in_channels > 0, "in_channels", "a positive integer", in_channels);
  require(hidden_size > 0, "hidden_size", "a positive integer", hidden_size);
  require(num_heads > 0 && hidden_size % num_heads == 0, "num_heads",
          "a positive divisor of hidden_size " + std::to_string(hidden_size), num_heads);
  require(depth > 0, "depth", "a positive integer", depth);
  require(mlp_ratio > 0 && mlp_hidden() > 0, "mlp_ratio (x1000)", "a positive ratio", int64_t(mlp_ratio * 1000));
  require(num_classes >= 0, "num_classes", "0 (unconditional) or a positive class count", num_classes);
  if (family == Family::DiT) {
    require(num_classes > 0, "num_classes", "a positive class count for DiT", num_classes);
    require(!skip || depth % 2 == 0, "depth", "an even depth for DiT with skip branches", depth);
  } else if (family == Family::HunyuanDiT) {
    require(num_classes == 0, "num_classes", "0 (text-conditioned)", num_classes);
    require(depth % 2 == 0 && depth >= 2, "depth", "an even depth (the official skips pop from an empty list otherwise)", depth);
    require(head_dim() % 4 == 0, "num_heads", "heads of a size divisible by 4 (2-D RoPE pairs per axis)", num_heads);
    require(text_states_dim > 0 && text_len > 0, "text_states_dim / text_len", "positive integers", text_states_dim);
    require(text_states_dim_t5 > 0 && text_len_t5 > 0 && text_states_dim_t5 % 8 == 0, "text_states_dim_t5",
            "a positive multiple of 8 (the attention pooler's 8 heads)", text_states_dim_t5);
  } else if (family == Family::LatteT2V) {
    require(num_classes == 0, "num_classes", "0 (text-conditioned)", num_classes);
    require(caption_channels > 0, "caption_channels", "a positive integer", caption_channels);
    require(depth % 2 == 0, "depth", "an even depth (2 x num_layers: spatial/temporal pairs)", depth);
    require(!skip || depth % 4 == 0, "depth", "a multiple of 4 with skip branches (an even num_layers)", depth);
    require(num_frames > 0, "num_frames", "a positive integer", num_frames);
  } else {
    require(depth % 2 == 0, "depth", "an even depth for Latte (spatial/temporal pairs)", depth);
    require(!skip || depth % 4 == 0, "depth", "a multiple of 4 for Latte with skip branches", depth);
    require(num_frames > 0, "num_frames", "a positive integer", num_frames);
  }
}

std::string ModelConfig::summary() const {
  const char* name = family == Family::DiT ? "DiT" : family == Family::Latte ? "Latte" : family == Family::LatteT2V ? "LatteT2V" : "HunyuanDiT";
  return std::string(name) + (skip ? "-skip" : "") +
         " depth=" + std::to_string(depth) + " hidden=" + std::to_string(hidden_size) +
         " heads=" + std::to_string(num_heads) + " patch=" + std::to_string(patch_size) +
         " input=" + std::to_string(input_size) + " in_channels=" + std::to_string(in_channels) +
         (family != Family::DiT ? " frames=" + std::to_string(num_frames) : "") +
         " classes=" + std::to_string(num_classes) + (learn_sigma ? " learn_sigma" : "");
}

}  // namespace skipdit
