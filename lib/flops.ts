// FLOP counts of model calls (multiply-add = 2 FLOPs), for benchmarks and cache statistics: read from the
// native op graphs through describeModel(), so they are the FLOPs of the ops that actually run.
import { describeModel } from './architecture.js';
import type { ModelConfig } from './config.js';
import { InvalidArgumentError } from './errors.js';

/** FLOPs of a full uncached forward with batch B. */
export function forwardFlops(c: ModelConfig, batch: number): number {
  return describeModel(c, batch).flops;
}

/**
 * FLOPs of one model call that ran `blocksExecuted` of the depth blocks: a full forward, or the cached step
 * (Skip-Cache branch k) that runs that many blocks.
 */
export function callFlops(c: ModelConfig, batch: number, blocksExecuted: number): number {
  const d = describeModel(c, batch);
  if (blocksExecuted === c.depth) return d.flops;
  const step = d.cached.find((s) => s.blocksExecuted === blocksExecuted);
  if (!step) {
    const counts = [...new Set(d.cached.map((s) => s.blocksExecuted))].join(', ');
    throw InvalidArgumentError.expected('blocksExecuted', `${c.depth} (a full call) or the blocks of a cached call (${counts})`, blocksExecuted);
  }
  return step.flops;
}
