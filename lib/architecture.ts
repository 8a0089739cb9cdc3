// What lib/ knows about an architecture comes from the native describe() (native/model/family.h): parameter
// names and shapes, FLOPs per named block, skip pairs, Skip-Cache units and what each cached step runs. The
// native family files are the one definition; nothing here restates them. The few per-family facts that are not
// about the network (a frame axis or not, the Skip-Cache preset, the official guided channels) are in one table.
import type { NativeModelDescription } from '../binding.js';
import { normalizeConfig, presets, type ModelConfig, type ModelConfigInput, type ModelFamily, type PresetName } from './config.js';
import { InvalidArgumentError, fromNativeError } from './errors.js';
import { native } from './native.js';

/** A config's structure and costs at a batch size; the fields are documented on NativeModelDescription (binding.d.ts). */
export type ModelDescription = NativeModelDescription;

// The fields that make a config (key order fixed, so equal configs share an entry whatever their key order).
const KEY_FIELDS = [
  'family', 'skip', 'input_size', 'patch_size', 'in_channels', 'hidden_size', 'depth', 'num_heads', 'mlp_ratio',
  'num_classes', 'class_dropout', 'learn_sigma', 'num_frames', 'caption_channels',
  'text_states_dim', 'text_len', 'text_states_dim_t5', 'text_len_t5', 'size_cond', 'style_cond',
] as const satisfies ReadonlyArray<keyof ModelConfig>;
// Pipelines look FLOPs up every step: a few configs x batches are live at a time.
const MEMO_LIMIT = 64;
const memo = new Map<string, unknown>();

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The structure and costs of a config (a preset name, or a config object completed as normalizeConfig() does)
 * at batch `batch` (rows of x, already doubled for guidance), without weights: every parameter's state_dict
 * name and shape (embedders, blocks, skips, final layer), FLOPs (multiply-add = 2) per named block of a full forward and in all,
 * the skip pairs, the blocks per Skip-Cache unit, and for every branch k the blocks and FLOPs of a cached call.
 * Memoised per (config, batch); the result is frozen.
 */
export function describeModel(config: PresetName | ModelConfigInput, batch = 1): ModelDescription {
  const c = resolve(config);
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > 1e6) throw InvalidArgumentError.expected('batch', 'a positive integer (at most 1e6)', batch);
  return memoised(`${configKey(c)}|${batch}`, () => native().describeModel(c, batch));
}

/**
 * describeModel(config).params alone: every parameter's state_dict name and shape, in the model's order. Its
 * cost is linear in the depth (describeModel records a graph per cached branch, quadratic in the depth), so
 * it is what checks a file against a config read from that file.
 */
export function modelParams(config: PresetName | ModelConfigInput): ModelDescription['params'] {
  const c = resolve(config);
  return memoised(`${configKey(c)}|params`, () => native().modelParams(c));
}

function resolve(config: PresetName | ModelConfigInput): ModelConfig {
  if (typeof config !== 'string') return normalizeConfig(config as ModelConfigInput & Record<string, unknown>);
  if (!Object.hasOwn(presets, config)) throw InvalidArgumentError.expected('config', `a preset name (${Object.keys(presets).join(', ')}) or an object`, config);
  return presets[config];
}

const configKey = (c: ModelConfig) => KEY_FIELDS.map((k) => c[k]).join(',');

function memoised<T>(key: string, compute: () => T): T {
  let value = memo.get(key) as T | undefined;
  if (value !== undefined) {
    memo.delete(key); // most recently used last
  } else {
    try {
      value = deepFreeze(compute());
    } catch (err) {
      throw fromNativeError(err);
    }
  }
  memo.set(key, value);
  if (memo.size > MEMO_LIMIT) memo.delete(memo.keys().next().value!);
  return value;
}

/**
 * Whether a model can have a Skip-Cache: one with skip branches, or a plain DiT, which caches as the baseline of the
 * skip-branch ablation (its cached call runs only the last k blocks on the saved feature; docs/sampling.md).
 */
export function cacheable(c: ModelConfig): boolean {
  return c.skip || c.family === 'dit';
}

/**
 * The Skip-Cache branches k (units kept at each end) whose cached step skips something (a larger k keeps every
 * unit and costs as much as a full step); none for a model that cannot cache.
 */
export function usefulBranches(c: ModelConfig): number[] {
  const d = describeModel(c);
  if (!cacheable(c)) return [];
  return d.cached.filter((s) => s.blocksExecuted < c.depth).map((s) => s.branch);
}

/**
 * What differs between a family's conventions, outside the network: whether samples have a frame axis
 * (x is (B, F, C, H, W) rather than (B, C, H, W)), the Skip-Cache preset (lib/cache.ts), the output channels the
 * official forward_with_cfg guides (DiT: the first 3, Latte: the first 4, LatteT2V: all), and a display name.
 */
export const families = {
  dit: { name: 'DiT', video: false, cachePreset: 'dit', cfgChannels: 3 },
  latte: { name: 'Latte', video: true, cachePreset: 'latte', cfgChannels: 4 },
  // The text-to-video pipeline guides all 2C channels, on a batch ordered [uncond, cond] (the native model knows).
  'latte-t2v': { name: 'LatteT2V', video: true, cachePreset: 'latte-t2v', cfgChannels: 'all' },
  // sample_t2i.py guides the first C channels (the v-prediction) on a [negative, prompt] batch
  'hunyuan-dit': { name: 'HunyuanDiT', video: false, cachePreset: 'hunyuan', cfgChannels: 4 },
} as const satisfies Record<ModelFamily, { name: string; video: boolean; cachePreset: string; cfgChannels: number | 'all' }>;

/** The shape of one sample (x without the batch axis): [F, C, H, W] for video families, else [C, H, W]. */
export function sampleShape(c: ModelConfig): number[] {
  const image = [c.in_channels, c.input_size, c.input_size];
  if (c.family === 'latte-t2v') return [c.in_channels, c.num_frames, c.input_size, c.input_size]; // (C, F, H, W)
  return families[c.family].video ? [c.num_frames, ...image] : image;
}
