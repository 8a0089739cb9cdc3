// Architecture of a DiT / Latte model, with the official constructor argument names.
#pragma once
#include <cstdint>
#include <string>

namespace skipdit {

// LatteT2V: the text-to-video Latte (diffusers-style LatteT2V / LatteT2V_skip): depth counts blocks (2 x num_layers).
// HunyuanDiT: Hunyuan-DiT text-to-image (long skips built in; any latent size, 2-D RoPE).
enum class Family { DiT, Latte, LatteT2V, HunyuanDiT };

struct ModelConfig {
  Family family = Family::DiT;
  bool skip = true;             // long skip branches (DiT_skip / Latte_skip) or the plain model
  int64_t input_size = 32;      // latent side
  int64_t patch_size = 2;
  int64_t in_channels = 4;
  int64_t hidden_size = 1152;
  int64_t depth = 28;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  int64_t num_classes = 1000;   // 0: unconditional (Latte extras=1: c = timestep embedding)
  bool class_dropout = true;    // label table has a null row (num_classes + 1 rows), needed for CFG
  bool learn_sigma = true;
  int64_t num_frames = 1;       // Latte only (LatteT2V: video_length, the temp_pos_embed length)
  int64_t caption_channels = 0; // LatteT2V only: the text states' width (cross_attention_dim = hidden_size)
  // HunyuanDiT only: BERT states (text_len x text_states_dim) and mT5 states (text_len_t5 x text_states_dim_t5)
  int64_t text_states_dim = 0, text_len = 0, text_states_dim_t5 = 0, text_len_t5 = 0;
  // HunyuanDiT v1.1: the image size condition (6 sinusoids of image_meta_size) and the style embedding in extra_vec
  bool size_cond = false, style_cond = false;

  int64_t out_channels() const { return learn_sigma ? 2 * in_channels : in_channels; }
  int64_t grid() const { return input_size / patch_size; }
  int64_t tokens() const { return grid() * grid(); }
  int64_t mlp_hidden() const { return static_cast<int64_t>(static_cast<double>(hidden_size) * mlp_ratio); }
  int64_t head_dim() const { return hidden_size / num_heads; }
  bool conditional() const { return num_classes > 0; }
  int64_t label_rows() const { return num_classes + (class_dropout ? 1 : 0); }

  // Throws InvalidArgument naming the field when the numbers cannot describe a model.
  void validate() const;
  std::string summary() const;
};

}  // namespace skipdit
