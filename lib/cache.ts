// Skip-Cache policies (TypeScript owns the policy; the state machine runs natively, see
// native/model/skip_cache.h) and the SkipCache handle of one sampling run.
import type { NativeCache, NativeCachePolicy } from '../binding.js';
import { InvalidArgumentError, describe } from './errors.js';

/**
 * Adaptive Skip-Cache: instead of a full call every N calls, a full call when the shallow units' output has moved
 * enough since the last full one. Each call runs the shallow units first and measures their output's relative L1
 * change from the previous call (its `drift`); then, inside the same call, the middle units run only if the drift
 * accumulated over the cached calls since the last full one, plus this call's, reaches `threshold`, or after
 * `maxSkip` cached calls in a row (the recorded graph holds both alternatives; native/model/skip_cache.h). The
 * preset's start / stop rules apply as for the fixed rule. Deterministic for a seed.
 */
export interface AdaptiveSettings {
  threshold: number;
  maxSkip: number;
}

/**
 * A Skip-Cache policy; the fields are documented on NativeCachePolicy (binding.d.ts), which is the same type, plus
 * `adaptive` for an adaptive policy (then the native interval is never reached and `measure` is on).
 */
export type CachePolicy = NativeCachePolicy & { adaptive?: AdaptiveSettings };

/** An adaptive policy as an object: `{ mode: 'adaptive', threshold, maxSkip?, branch, start?, stop?, stopInclusive? }`. */
export interface AdaptiveCachePolicyInput extends Partial<Omit<NativeCachePolicy, 'interval' | 'measure'>>, Partial<AdaptiveSettings> {
  mode: 'adaptive';
  branch: number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveSettings = { threshold: 0.1, maxSkip: 4 };

/** The native form of a policy: an adaptive one's settings as threshold / maxSkip. */
export function nativeCachePolicy(p: CachePolicy): NativeCachePolicy {
  const { adaptive, ...native } = p;
  return adaptive ? { ...native, threshold: adaptive.threshold, maxSkip: adaptive.maxSkip } : native;
}

function fromNative(p: NativeCachePolicy): CachePolicy {
  const { threshold, maxSkip, ...rest } = p;
  return threshold === undefined ? rest : { ...rest, adaptive: { threshold, maxSkip: maxSkip! } };
}

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
  | `${CachePresetName}:auto`
  | `${CachePresetName}:auto:${number}`
  | `${CachePresetName}:auto:${number}:${number}`
  | `${CachePresetName}:auto:${number}:${number}:${number}`
  | (Partial<NativeCachePolicy> & Pick<NativeCachePolicy, 'interval' | 'branch'>)
  | AdaptiveCachePolicyInput;

function adaptivePolicy(base: NativeCachePolicy, settings: AdaptiveSettings, where: string): CachePolicy {
  if (typeof settings.threshold !== 'number' || !(settings.threshold >= 0) || !Number.isFinite(settings.threshold)) {
    throw InvalidArgumentError.expected(`${where} threshold`, 'a finite number >= 0', settings.threshold);
  }
  if (!Number.isSafeInteger(settings.maxSkip) || settings.maxSkip < 1) throw InvalidArgumentError.expected(`${where} maxSkip`, 'a positive integer', settings.maxSkip);
  return { ...base, interval: 1, measure: true, adaptive: { threshold: settings.threshold, maxSkip: settings.maxSkip } };
}

export function resolveCachePolicy(input: CachePolicyInput, where = 'cache'): CachePolicy {
  if (typeof input === 'string') {
    const official = /^N(\d{1,6})-(\d{1,6})-(\d{1,6})$/.exec(input);
    if (official) {
      const interval = Number(official[1]);
      if (interval < 1) throw InvalidArgumentError.expected(`${where} interval`, 'a positive integer after N', official[1]);
      return { ...cachePresets['latte-t2v'], interval, start: Number(official[2]), stop: Number(official[3]) };
    }
    const auto = /^([a-z0-9-]+):auto(?::([^:]+))?(?::([^:]+))?(?::([^:]+))?$/.exec(input);
    if (auto && Object.hasOwn(cachePresets, auto[1])) {
      const num = (text: string | undefined, fallback: number) => (text === undefined ? fallback : text.trim() === '' ? NaN : Number(text));
      const base: NativeCachePolicy = { ...cachePresets[auto[1] as CachePresetName] };
      if (auto[4] !== undefined) base.branch = num(auto[4], base.branch);
      if (!Number.isSafeInteger(base.branch) || base.branch < 1) throw InvalidArgumentError.expected(`${where} branch`, 'a positive integer', auto[4]);
      return adaptivePolicy(base, { threshold: num(auto[2], ADAPTIVE_DEFAULTS.threshold), maxSkip: num(auto[3], ADAPTIVE_DEFAULTS.maxSkip) }, where);
    }
    const [name, n, k, ...rest] = input.split(':');
    // Own properties only: `in` would also accept 'constructor', '__proto__', 'toString', ... from Object.prototype.
    if (!Object.hasOwn(cachePresets, name) || rest.length > 0) {
      throw InvalidArgumentError.expected(where, `a preset (${Object.keys(cachePresets).join(', ')}), optionally ':N' and ':k', '<preset>:auto[:threshold[:maxSkip[:k]]]', 'N<interval>-<start>-<stop>' (e.g. N2-700-50), or a policy object`, input);
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
  if ('mode' in input) {
    if (input.mode !== 'adaptive') throw InvalidArgumentError.expected(`${where}.mode`, "'adaptive'", input.mode);
    const { mode: _mode, threshold, maxSkip, adaptive: _resolved, ...rest } = input as AdaptiveCachePolicyInput & { adaptive?: unknown };
    const base = resolveCachePolicy({ ...rest, interval: 1, measure: undefined } as NativeCachePolicy, where);
    return adaptivePolicy(base, { threshold: threshold ?? ADAPTIVE_DEFAULTS.threshold, maxSkip: maxSkip ?? ADAPTIVE_DEFAULTS.maxSkip }, where);
  }
  if ('adaptive' in input && input.adaptive !== undefined) {
    // a resolved adaptive policy (cache.policy), given back
    const { adaptive, ...rest } = input as CachePolicy;
    return adaptivePolicy(resolveCachePolicy({ ...rest, interval: 1, measure: undefined } as NativeCachePolicy, where), adaptive!, where);
  }
  if ('threshold' in input || 'maxSkip' in input) return resolveCachePolicy(fromNative(input as NativeCachePolicy), where);
  const known = ['interval', 'branch', 'start', 'stop', 'stopInclusive', 'fullWhenEmpty', 'measure'];
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
  if (p.measure === undefined) delete p.measure;
  else if (typeof p.measure !== 'boolean') throw InvalidArgumentError.expected(`${where}.measure`, 'a boolean', p.measure);
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
    return fromNative(this.native.policy());
  }

  /** Replaces the policy; the state restarts (the next call is full). */
  setPolicy(policy: CachePolicyInput): void {
    this.native.setPolicy(nativeCachePolicy(resolveCachePolicy(policy)));
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
