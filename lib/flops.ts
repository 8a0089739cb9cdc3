// FLOP counts of a forward pass (multiply-add = 2 FLOPs), for benchmarks and cache statistics.
import type { ModelConfig } from './config.js';

/** FLOPs of one transformer block over `groups` sequences of `tokens` tokens (adaLN rows excluded). */
export function blockFlops(c: ModelConfig, groups: number, tokens: number): number {
  const D = c.hidden_size, M = groups * tokens, Hm = Math.floor(D * c.mlp_ratio);
  const linears = 2 * M * D * (3 * D + D + 2 * Hm);
  const attention = 4 * groups * tokens * tokens * D; // q k^T and p v
  return linears + attention;
}

/** FLOPs of a full uncached forward with batch B. */
export function forwardFlops(c: ModelConfig, batch: number): number {
  const D = c.hidden_size, p = c.patch_size, T = (c.input_size / p) ** 2;
  const F = c.family === 'latte' ? c.num_frames : 1;
  const Cout = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const M = batch * F * T;
  let total = 2 * M * c.in_channels * p * p * D; // patch embed
  total += 2 * batch * (256 * D + D * D); // timestep MLP
  for (let i = 0; i < c.depth; i++) {
    const temporal = c.family === 'latte' && i % 2 === 1;
    total += temporal ? blockFlops(c, batch * T, F) : blockFlops(c, batch * F, T);
    total += 2 * batch * D * 6 * D; // adaLN modulation
  }
  const skips = !c.skip ? 0 : c.family === 'dit' ? c.depth / 2 : c.depth / 4;
  total += skips * 2 * M * 2 * D * D;
  total += 2 * batch * D * 2 * D + 2 * M * D * p * p * Cout; // final layer
  return total;
}

/**
 * FLOPs of one model call that ran `blocksExecuted` of the depth blocks. Skip-Cache skips whole units (DiT
 * blocks, Latte spatial+temporal pairs) and, with them, the skip fusions of the skipped decoder units (half of
 * the skipped units), so the skipped cost is exact.
 */
export function callFlops(c: ModelConfig, batch: number, blocksExecuted: number): number {
  const skippedBlocks = c.depth - blocksExecuted;
  if (skippedBlocks === 0) return forwardFlops(c, batch);
  const D = c.hidden_size, T = (c.input_size / c.patch_size) ** 2;
  const F = c.family === 'latte' ? c.num_frames : 1;
  const adaLN = 2 * batch * D * 6 * D;
  const unit = c.family === 'dit'
    ? blockFlops(c, batch, T) + adaLN
    : blockFlops(c, batch * F, T) + blockFlops(c, batch * T, F) + 2 * adaLN;
  const skippedUnits = c.family === 'dit' ? skippedBlocks : skippedBlocks / 2;
  const fusion = 2 * batch * F * T * 2 * D * D;
  return forwardFlops(c, batch) - skippedUnits * unit - (skippedUnits / 2) * fusion;
}
