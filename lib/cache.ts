// Skip-Cache policies (TypeScript owns the policy; the state machine runs natively, see
// native/model/skip_cache.h) and the SkipCache handle of one sampling run.
import type { NativeCache, NativeCachePolicy } from '../binding.js';
import { InvalidArgumentError, describe } from './errors.js';

/** A Skip-Cache policy; the fields are documented on NativeCachePolicy (binding.d.ts), which is the same type. */
export type CachePolicy = NativeCachePolicy;

/** The constants the official code hard-codes per model (SPEC.md), with its default interval. */
export const cachePresets = {
  /** DiT class-to-image (DiT_cache): k = 4 blocks, start 1000 (never reached), stop t <= 20. */
  dit: { interval: 2, branch: 4, start: 1000, stop: 20, stopInclusive: true, fullWhenEmpty: true },
  /** Latte class-to-video (Latte_skip_cache): 1 spatial+temporal pair, start 900, stop t < 50 (strict). */
  latte: { interval: 2, branch: 1, start: 900, stop: 50, stopInclusive: false, fullWhenEmpty: true },
  /** Latte text-to-video: 1 block (1 pair in skipdit's Latte graph), start 700, stop t <= 50. */
  'latte-t2v': { interval: 2, branch: 1, start: 700, stop: 50, stopInclusive: true, fullWhenEmpty: true },
  /** Hunyuan-DiT: 1 block, start 700, stop t <= 50, no test for a missing feature. */
  hunyuan: { interval: 2, branch: 1, start: 700, stop: 50, stopInclusive: true, fullWhenEmpty: false },
} as const satisfies Record<string, CachePolicy>;

export type CachePresetName = keyof typeof cachePresets;
/**
 * A preset name, `${preset}:${N}` (interval N), `${preset}:${N}:${k}` (also branch k, for models shallower than
 * the preset's), the text-to-video script's `--cache` string `N<interval>-<start>-<stop>` (sample_t2v.py's meaning:
 * the 'latte-t2v' preset with those three numbers, e.g. 'N2-700-50'), or a policy (missing fields: start 1000,
 * stop -1, both flags true).
 */
export type CachePolicyInput =
  | CachePresetName
  | `${CachePresetName}:${number}`
  | `${CachePresetName}:${number}:${number}`
  | `N${number}-${number}-${number}`
  | (Partial<CachePolicy> & Pick<CachePolicy, 'interval' | 'branch'>);

export function resolveCachePolicy(input: CachePolicyInput, where = 'cache'): CachePolicy {
  if (typeof input === 'string') {
    const official = /^N(\d{1,6})-(\d{1,6})-(\d{1,6})$/.exec(input);
    if (official) {
      const interval = Number(official[1]);
      if (interval < 1) throw InvalidArgumentError.expected(`${where} interval`, 'a positive integer after N', official[1]);
      return { ...cachePresets['latte-t2v'], interval, start: Number(official[2]), stop: Number(official[3]) };
    }
    const [name, n, k, ...rest] = input.split(':');
    // Own properties only: `in` would also accept 'constructor', '__proto__', 'toString', ... from Object.prototype.
    if (!Object.hasOwn(cachePresets, name) || rest.length > 0) {
      throw InvalidArgumentError.expected(where, `a preset (${Object.keys(cachePresets).join(', ')}), optionally ':N' and ':k', 'N<interval>-<start>-<stop>' (e.g. N2-700-50), or a policy object`, input);
    }
    const policy: CachePolicy = { ...cachePresets[name as CachePresetName] };
    const positive = (text: string, what: string) => {
      const v = Number(text);
      if (text === '' || !Number.isSafeInteger(v) || v < 1) throw InvalidArgumentError.expected(`${where} ${what}`, 'a positive integer after the colon', text);
      return v;
    };
    if (n !== undefined) policy.interval = positive(n, 'interval');
    if (k !== undefined) policy.branch = positive(k, 'branch');
    return policy;
  }
  if (typeof input !== 'object' || input === null) throw InvalidArgumentError.expected(where, 'a preset name or a policy object', input);
  const known = ['interval', 'branch', 'start', 'stop', 'stopInclusive', 'fullWhenEmpty'];
  for (const key of Object.keys(input)) if (!known.includes(key)) throw InvalidArgumentError.expected(`${where}.${key}`, `one of ${known.join(', ')}`, key);
  const p: CachePolicy = { start: 1000, stop: -1, stopInclusive: true, fullWhenEmpty: true, ...input };
  for (const key of ['interval', 'branch'] as const) {
    // Safe integers only: native code holds them as int64 (1e300 is an integer to JavaScript, not to int64).
    if (!Number.isSafeInteger(p[key]) || p[key] < 1) throw InvalidArgumentError.expected(`${where}.${key}`, 'a positive integer', p[key]);
  }
  for (const key of ['start', 'stop'] as const) {
    if (typeof p[key] !== 'number' || !Number.isFinite(p[key])) throw InvalidArgumentError.expected(`${where}.${key}`, 'a finite timestep', p[key]);
  }
  for (const key of ['stopInclusive', 'fullWhenEmpty'] as const) {
    if (typeof p[key] !== 'boolean') throw InvalidArgumentError.expected(`${where}.${key}`, 'a boolean', p[key]);
  }
  return p;
}

export interface CacheStats {
  /** Model calls made with this cache. */
  calls: number;
  fullSteps: number;
  cachedSteps: number;
  /** Transformer blocks that ran, and that would have run without a cache. */
  blocksExecuted: number;
  blocksTotal: number;
}

/**
 * The Skip-Cache state of one sampling run: created by model.createCache(policy), passed to
 * model.forward / forwardWithCfg as { cache }, advanced once per call. Never shared between runs.
 */
export class SkipCache {
  /** @internal */
  readonly native: NativeCache;
  /** @internal */
  readonly owner: object;

  /** @internal Use model.createCache(). */
  constructor(native: NativeCache, owner: object) {
    this.native = native;
    this.owner = owner;
  }

  get policy(): CachePolicy {
    return this.native.policy();
  }

  /** Replaces the policy; the state restarts (the next call is full). */
  setPolicy(policy: CachePolicyInput): void {
    this.native.setPolicy(resolveCachePolicy(policy));
  }

  /** Forgets the feature and the counter (a new run); statistics are kept. */
  reset(): void {
    this.native.reset();
  }

  stats(): CacheStats {
    const s = this.native.stats();
    return { calls: s.calls, fullSteps: s.fullSteps, cachedSteps: s.cachedSteps, blocksExecuted: s.blocksExecuted, blocksTotal: s.blocksTotal };
  }

  toString(): string {
    return `SkipCache(${describe(this.policy)})`;
  }
}
