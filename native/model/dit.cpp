// DiT / DiT_skip graph (class-to-image/models.py).
#include "model/model.h"

namespace skipdit {

Tensor Model::forward_dit(const ForwardInputs& in, Taps* taps, SkipCache* cache, ForwardReport& report) {
  Backend& be = *backend_;
  const ModelConfig& c = config_;
  const int64_t B = in.x.dim(0), T = c.tokens(), D = c.hidden_size, half = c.depth / 2;

  BackendRegion region(be, region_key(in, taps, cache, report));  // inputs staged, graph replayed on CUDA
  Tensor x = backend_input(in.x);  // (B, C, H, W)
  Tensor cols = workspace_.get("patch_cols", {B, T, c.in_channels * c.patch_size * c.patch_size});
  Tensor h = workspace_.activations("h", {B, T, D});
  be.patch_embed(x, w_.patch_weight, w_.patch_bias, cols, h);
  be.add_broadcast_rows(h, w_.pos_embed);
  if (taps) taps->record(be, "tokens", h);
  Tensor silu_c = conditioning(in, taps);

  // Skip-DiT: block i < half pushes its output; block i >= half first fuses with the last pushed one.
  // Skip-Cache: a cached call skips blocks k .. depth-k-1 (no push, no pop) and resumes at block depth-k
  // from the feature of the last full call; its skip partner is block k-1, which did run.
  for (int64_t i = 0; i < c.depth; ++i) {
    check_abort(abort_);
    if (cache && cache->skips(i)) continue;
    if (cache && i == cache->resume_block()) {
      if (report.cached) cache->restore_feature(be, h);
      else cache->save_feature(be, h);
    }
    if (c.skip && i >= half) {
      const int64_t j = i - half;
      fuse_skip(j, h, workspace_.activations("skip" + std::to_string(half - 1 - j), {B, T, D}));
      if (taps) taps->record(be, "skip_fused", h);
    }
    run_block(i, h, silu_c, 1);
    report.blocks_executed++;
    if (c.skip && i < half) {
      Tensor saved = workspace_.activations("skip" + std::to_string(i), {B, T, D});
      be.copy(h, saved);
    }
    if (taps) taps->record(be, "blocks_out", h);
  }

  Tensor image = final_layer(h, silu_c, 1, taps);  // (B, Cout, H, W)
  region.end();
  return image;
}

}  // namespace skipdit
