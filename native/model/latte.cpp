// Latte / Latte_skip graph (class-to-video/models/latte.py): spatial and temporal blocks in pairs.
#include "model/model.h"

namespace skipdit {

Tensor Model::forward_latte(const ForwardInputs& in, Taps* taps, SkipCache* cache, ForwardReport& report) {
  Backend& be = *backend_;
  const ModelConfig& c = config_;
  const int64_t B = in.x.dim(0), F = c.num_frames, T = c.tokens(), D = c.hidden_size, half = c.depth / 2;
  const int64_t BF = B * F, BT = B * T;

  // 'b f c h w -> (b f) c h w', patch embed: h ((b f), T, D)
  BackendRegion region(be, region_key(in, taps, cache, report));  // inputs staged, graph replayed on CUDA
  Tensor x = backend_input(in.x).reshape({BF, c.in_channels, c.input_size, c.input_size});
  Tensor cols = workspace_.get("patch_cols", {BF, T, c.in_channels * c.patch_size * c.patch_size});
  Tensor h = workspace_.activations("h", {BF, T, D});
  be.patch_embed(x, w_.patch_weight, w_.patch_bias, cols, h);
  be.add_broadcast_rows(h, w_.pos_embed);
  if (taps) taps->record(be, "tokens", h);
  Tensor silu_c = conditioning(in, taps);  // (B, D): spatial rows repeat F times, temporal rows T times
  Tensor ht = workspace_.activations("h_temporal", {BT, F, D});

  // Skip-Cache works on pairs: a cached call skips pairs 2k .. depth-2k-1 and resumes at pair depth-2k.
  for (int64_t i = 0; i < c.depth; i += 2) {
    check_abort(abort_);
    if (cache && cache->skips(i)) continue;
    if (cache && i == cache->resume_block()) {
      if (report.cached) cache->restore_feature(be, h);
      else cache->save_feature(be, h);
    }
    if (c.skip && i >= half) {
      const int64_t j = (i - half) / 2;  // official: (i - 14) // 2, i.e. depth 28
      const int64_t pushed = (half + 1) / 2;  // pairs that pushed a skip
      fuse_skip(j, h, workspace_.activations("skip" + std::to_string(pushed - 1 - j), {BF, T, D}));
      if (taps) taps->record(be, "skip_fused", h);
    }
    run_block(i, h, silu_c, F);
    if (taps) taps->record(be, "spatial_out", h);
    be.swap_token_axes(h, B, ht);  // '(b f) t d -> (b t) f d'
    if (i == 0) be.add_broadcast_rows(ht, w_.temp_embed);
    run_block(i + 1, ht, silu_c, T);
    report.blocks_executed += 2;
    if (taps) taps->record(be, "temporal_out", ht);
    be.swap_token_axes(ht, B, h);  // '(b t) f d -> (b f) t d'
    if (c.skip && i < half) {
      Tensor saved = workspace_.activations("skip" + std::to_string(i / 2), {BF, T, D});
      be.copy(h, saved);
    }
  }

  Tensor frames = final_layer(h, silu_c, F, taps);  // ((b f), Cout, H, W)
  region.end();
  return frames.reshape({B, F, c.out_channels(), c.input_size, c.input_size});
}

}  // namespace skipdit
