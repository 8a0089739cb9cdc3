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
 * FLOPs of one model call that ran `blocksExecuted` of the depth blocks (Skip-Cache skips whole blocks, or
 * whole spatial+temporal pairs for Latte, so the skipped cost is exact).
 */
export function callFlops(c: ModelConfig, batch: number, blocksExecuted: number): number {
  const skipped = c.depth - blocksExecuted;
  if (skipped === 0) return forwardFlops(c, batch);
  const D = c.hidden_size, T = (c.input_size / c.patch_size) ** 2;
  const adaLN = 2 * batch * D * 6 * D;
  if (c.family === 'dit') return forwardFlops(c, batch) - skipped * (blockFlops(c, batch, T) + adaLN);
  const F = c.num_frames;
  const pair = blockFlops(c, batch * F, T) + blockFlops(c, batch * T, F) + 2 * adaLN;
  return forwardFlops(c, batch) - (skipped / 2) * pair;
}
